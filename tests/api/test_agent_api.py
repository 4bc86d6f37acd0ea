"""The agent's side of the API (``/api/v1/agent/*``): host tokens only, and a host speaks
only of its own units."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from dllab.db.models import Host
from dllab.protocol import TASK_STOP_UNIT

UNITS = "/api/v1/units"


def state_of(client, headers, unit_id: str) -> str:
    answer = client.get(f"{UNITS}/{unit_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    state: str = answer.json()["state"]
    return state


def test_register_answers_where_to_listen(client, admin, settings):
    token = client.post("/api/v1/hosts", headers=admin, json={"name": "gpu-1"}).json()["token"]
    answer = client.post("/api/v1/agent/register", headers={"Authorization": f"Bearer {token}"},
                         json={"runtime": "docker", "address": "10.0.0.7", "version": "0.1.0",
                               "gpus": [], "units": []})
    assert answer.status_code == 200
    body = answer.json()
    assert body["name"] == "gpu-1"
    assert body["queue"] == "host.gpu-1"
    assert body["broker_url"] == settings.broker_url_for_agents
    assert body["heartbeat_seconds"] == settings.heartbeat_seconds
    [host] = client.get("/api/v1/hosts", headers=admin).json()["data"]
    assert (host["id"], host["runtime"], host["address"], host["agent_version"]) == \
        (body["host_id"], "docker", "10.0.0.7", "0.1.0")


def test_register_adopts_known_units_and_removes_unknown_ones(client, admin, agent, run_unit,
                                                              broker):
    host = agent("gpu-1", gpus=2)
    unit = run_unit(admin, gpus=1)
    # The agent restarts and finds what it runs: our unit, and one nobody knows of.
    answer = client.post("/api/v1/agent/register", headers=host.headers, json={
        "runtime": "process", "address": "127.0.0.1", "version": "test", "gpus": host.gpus,
        "units": [{"unit_id": unit["id"], "state": "running"},
                  {"unit_id": "f" * 32, "state": "running"}]})
    assert answer.status_code == 200
    assert state_of(client, admin, unit["id"]) == "running"
    assert [(m.queue, m.args) for m in broker.messages(TASK_STOP_UNIT)] == \
        [("host.gpu-1", ["f" * 32])]


def test_report_must_name_the_unit_of_its_path(admin, agent, run_unit):
    host = agent("gpu-1", gpus=1)
    unit = run_unit(admin, gpus=1)
    answer = host.client.post(f"/api/v1/agent/units/{unit['id']}/report", headers=host.headers,
                              json={"unit_id": "0" * 32, "state": "running"})
    assert answer.status_code == 400
    assert "unit_id" in answer.json()["detail"]


def test_host_cannot_report_about_another_hosts_unit(client, admin, agent, run_unit, broker):
    owner = agent("gpu-1", gpus=1)
    other = agent("gpu-2", gpus=1)
    unit = run_unit(admin, gpus=1)
    assert unit["host"] == "gpu-1"  # a tie: the first name
    owner.report(unit["id"], "running")
    assert other.report(unit["id"], "exited", exit_code=1).status_code == 204
    assert other.heartbeat([{"unit_id": unit["id"], "state": "missing"}]).status_code == 204
    assert state_of(client, admin, unit["id"]) == "running"
    # The other host is told to remove a unit it should not run; the owner is left alone.
    assert [(m.queue, m.args) for m in broker.messages(TASK_STOP_UNIT)] == \
        [("host.gpu-2", [unit["id"]])]


def test_host_cannot_ship_logs_of_another_hosts_unit(client, admin, agent, run_unit):
    agent("gpu-1", gpus=1)
    other = agent("gpu-2", gpus=1)
    unit = run_unit(admin, gpus=1)
    assert unit["host"] == "gpu-1"  # a tie: the first name
    answer = other.ship_logs(unit["id"], 0, ["forged"])
    assert answer.status_code == 404
    assert answer.json()["reason"] == "unit_not_found"
    assert client.get(f"{UNITS}/{unit['id']}/logs", headers=admin).text == ""


def test_logs_of_an_unknown_unit_are_404(agent):
    answer = agent("gpu-1", gpus=1).ship_logs("0" * 32, 0, ["x"])
    assert answer.status_code == 404


def test_heartbeat_answers_204_and_marks_the_host_seen(client, admin, agent, db):
    host = agent("gpu-1", gpus=1)
    long_ago = datetime(2000, 1, 1, tzinfo=UTC)
    with db() as session:
        session.execute(update(Host).values(last_seen_at=long_ago))
        session.commit()
    answer = host.heartbeat()
    assert (answer.status_code, answer.content) == (204, b"")
    [listed] = client.get("/api/v1/hosts", headers=admin).json()["data"]
    assert datetime.fromisoformat(listed["last_seen_at"]) > long_ago
    assert listed["status"] == "online"


@pytest.mark.parametrize("path, body", [
    ("/api/v1/agent/heartbeat", {"gpus": [], "units": []}),
    ("/api/v1/agent/register", {"runtime": "process", "address": "a", "version": "v",
                                "gpus": [], "units": []}),
    (f"/api/v1/agent/units/{'0' * 32}/report", {"unit_id": "0" * 32, "state": "running"}),
    (f"/api/v1/agent/units/{'0' * 32}/logs", {"offset": 0, "lines": []}),
])
def test_agent_api_refuses_users_and_strangers(client, admin, path, body):
    for headers, reason in [(admin, "not_a_host_token"), ({}, "not_authenticated"),
                            ({"Authorization": "Bearer dlh_forged"}, "bad_token")]:
        answer = client.post(path, headers=headers, json=body)
        assert answer.status_code == 401, (headers, answer.text)
        assert answer.json()["reason"] == reason


def test_agent_bodies_refuse_unknown_fields(agent):
    host = agent("gpu-1", gpus=1)
    answer = host.client.post("/api/v1/agent/heartbeat", headers=host.headers,
                              json={"gpus": [], "units": [], "load": 0.5})
    assert answer.status_code == 422
    assert "load" in answer.json()["detail"]
