"""GPU hosts: added by an admin with a one-time agent token, listed with status and GPUs,
removed when idle or offline (its units then lost), never while online and busy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from dllab.db.models import Host

HOSTS = "/api/v1/hosts"


def hosts_by_name(client, headers) -> dict[str, dict]:
    answer = client.get(HOSTS, headers=headers)
    assert answer.status_code == 200
    return {h["name"]: h for h in answer.json()["data"]}


def set_last_seen(db, name: str, when: datetime) -> None:
    with db() as session:
        session.execute(update(Host).where(Host.name == name).values(last_seen_at=when))
        session.commit()


def test_added_host_gets_an_agent_token_and_is_new(client, admin, settings):
    answer = client.post(HOSTS, headers=admin, json={"name": "gpu-1"})
    assert answer.status_code == 201
    host = answer.json()
    assert host["token"].startswith("dlh_")
    assert host["token"] in host["agent_command"]
    assert settings.url in host["agent_command"]
    assert (host["name"], host["status"], host["runtime"], host["gpus"]) == \
        ("gpu-1", "new", None, [])
    listed = client.get(HOSTS, headers=admin).json()
    assert listed["count"] == 1
    assert "token" not in listed["data"][0]
    assert host["token"] not in client.get(HOSTS, headers=admin).text


def test_list_shape_and_status_after_register(client, admin, agent_host):
    agent_host("gpu-b", gpus=2)
    client.post(HOSTS, headers=admin, json={"name": "gpu-a"})
    answer = client.get(HOSTS, headers=admin)
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"data", "count"}
    assert body["count"] == 2
    assert [h["name"] for h in body["data"]] == ["gpu-a", "gpu-b"]  # by name
    for host in body["data"]:
        assert {"id", "name", "status", "runtime", "gpus"} <= set(host)
    new, registered = body["data"]
    assert (new["status"], new["runtime"], new["gpus"]) == ("new", None, [])
    assert (registered["status"], registered["runtime"]) == ("online", "process")
    assert [g["index"] for g in registered["gpus"]] == [0, 1]
    assert all(g["simulated"] is True for g in registered["gpus"])
    assert all(g["uuid"].startswith("GPU-") and g["model"] for g in registered["gpus"])


def test_any_user_may_list_hosts_but_only_admins_change_them(client, admin, make_user):
    alice = make_user("alice")
    host_id = client.post(HOSTS, headers=admin, json={"name": "gpu-1"}).json()["id"]
    assert client.get(HOSTS, headers=alice).status_code == 200
    added = client.post(HOSTS, headers=alice, json={"name": "gpu-2"})
    assert added.status_code == 403
    assert added.json()["reason"] == "admin_only"
    assert client.delete(f"{HOSTS}/{host_id}", headers=alice).status_code == 403
    assert client.get(HOSTS).status_code == 401
    assert list(hosts_by_name(client, admin)) == ["gpu-1"]


def test_duplicate_host_is_409(client, admin):
    assert client.post(HOSTS, headers=admin, json={"name": "gpu-1"}).status_code == 201
    answer = client.post(HOSTS, headers=admin, json={"name": "gpu-1"})
    assert answer.status_code == 409
    assert answer.json()["reason"] == "host_exists"
    assert "gpu-1" in answer.json()["detail"]


def test_host_goes_offline_when_silent_and_online_on_heartbeat(client, admin, agent, db,
                                                              settings):
    host = agent("gpu-1", gpus=2)
    limit = timedelta(seconds=settings.host_offline_seconds)
    set_last_seen(db, "gpu-1", datetime.now(UTC) - limit + timedelta(seconds=10))
    assert hosts_by_name(client, admin)["gpu-1"]["status"] == "online"
    set_last_seen(db, "gpu-1", datetime.now(UTC) - limit - timedelta(seconds=1))
    assert hosts_by_name(client, admin)["gpu-1"]["status"] == "offline"
    assert host.heartbeat().status_code == 204
    assert hosts_by_name(client, admin)["gpu-1"]["status"] == "online"


def test_heartbeat_replaces_the_gpu_inventory(client, admin, agent):
    host = agent("gpu-1", gpus=4)
    host.gpus = host.gpus[:2]
    assert host.heartbeat().status_code == 204
    assert [g["index"] for g in hosts_by_name(client, admin)["gpu-1"]["gpus"]] == [0, 1]


def test_removed_host_is_gone_and_its_token_stops_working(client, admin, agent):
    host = agent("gpu-1", gpus=1)
    host_id = hosts_by_name(client, admin)["gpu-1"]["id"]
    assert client.delete(f"{HOSTS}/{host_id}", headers=admin).status_code == 204
    assert hosts_by_name(client, admin) == {}
    answer = host.heartbeat()
    assert answer.status_code == 401
    assert answer.json()["reason"] == "bad_token"


def test_online_host_with_active_units_cannot_be_removed(client, admin, agent, run_unit):
    host = agent("gpu-1", gpus=2)
    host_id = hosts_by_name(client, admin)["gpu-1"]["id"]
    unit = run_unit(admin, gpus=1)
    answer = client.delete(f"{HOSTS}/{host_id}", headers=admin)
    assert answer.status_code == 409
    assert answer.json()["reason"] == "host_busy"
    assert "gpu-1" in answer.json()["detail"]
    # Once the unit has ended the host may go; the unit's record stays, without a host.
    assert host.report(unit["id"], "exited", exit_code=0).status_code == 204
    assert client.delete(f"{HOSTS}/{host_id}", headers=admin).status_code == 204
    kept = client.get(f"/api/v1/units/{unit['id']}", headers=admin)
    assert kept.status_code == 200
    assert (kept.json()["state"], kept.json()["host"]) == ("exited", None)


def test_offline_host_is_removed_and_its_units_are_lost(client, admin, agent, run_unit, db,
                                                        settings):
    host = agent("gpu-1", gpus=2)
    host_id = hosts_by_name(client, admin)["gpu-1"]["id"]
    running = run_unit(admin, gpus=1, name="running")
    host.report(running["id"], "running")
    stopping = run_unit(admin, gpus=1, name="stopping")
    assert client.post(f"/api/v1/units/{stopping['id']}/stop",
                       headers=admin).json()["state"] == "stopping"
    offline = datetime.now(UTC) - timedelta(seconds=settings.host_offline_seconds + 1)
    set_last_seen(db, "gpu-1", offline)
    assert hosts_by_name(client, admin)["gpu-1"]["status"] == "offline"
    assert client.delete(f"{HOSTS}/{host_id}", headers=admin).status_code == 204
    assert hosts_by_name(client, admin) == {}
    lost = client.get(f"/api/v1/units/{running['id']}", headers=admin).json()
    assert (lost["state"], lost["error"], lost["host"]) == \
        ("lost", "host gpu-1 was removed", None)
    assert lost["finished_at"] is not None
    # A unit being stopped has stopped: the host that ran it is gone.
    gone = client.get(f"/api/v1/units/{stopping['id']}", headers=admin).json()
    assert (gone["state"], gone["error"]) == ("stopped", None)


def test_removing_an_unknown_host_is_404(client, admin):
    answer = client.delete(f"{HOSTS}/999", headers=admin)
    assert answer.status_code == 404
    assert answer.json()["reason"] == "host_not_found"


@pytest.mark.parametrize("host_id", [0, -1])
def test_removing_a_host_id_no_host_can_have_is_4xx(client, admin, host_id):
    answer = client.delete(f"{HOSTS}/{host_id}", headers=admin)
    assert answer.status_code in (404, 422)
    assert "host" in answer.json()["detail"]
