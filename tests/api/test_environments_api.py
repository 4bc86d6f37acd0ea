"""The environments API on its own (no JupyterHub runs here): what is refused before
anything is made, the hub's calls (only with the token the two share), and a hub that is
down. The whole flow, hub and containers included, and another user's 404s, are in
tests/integration/test_environments.py."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dllab.db.models import Desired, Environment, User
from dllab.security import shared_secret
from ports import free_ports

ENVS = "/api/v1/environments"
IMAGE = {"name": "dllab/runtime", "tag": "tf-cpu", "framework": "tensorflow",
         "framework_version": "2.21.0"}


@pytest.fixture
def catalogue(client, admin):
    assert client.post("/api/v1/images", headers=admin, json=IMAGE).status_code == 201


def test_what_can_be_checked_is_refused_before_anything_is_made(client, make_user, agent_host,
                                                                 catalogue, settings, tmp_path):
    alice = make_user("alice")
    agent_host("gpu-1", gpus=4, runtime="docker")
    allowed = tmp_path / "data"
    (allowed / "team").mkdir(parents=True)
    settings.environment_volume_roots = [allowed]
    ok = {"name": "lab", "image": "dllab/runtime:tf-cpu", "gpus": 1}
    for body, status, reason in [
        ({**ok, "image": "dllab/runtime:nosuch"}, 400, "unknown_image"),
        ({**ok, "gpus": 5}, 400, "too_many_gpus"),
        ({**ok, "volumes": [{"source": "/etc", "mount_path": "/data"}]}, 400,
         "volume_outside_roots"),
        ({**ok, "volumes": [{"source": f"{allowed}/team/../../x", "mount_path": "/data"}]},
         422, None),  # '..' is refused by the schema itself
        ({**ok, "volumes": [{"source": f"{allowed}/team", "mount_path": "/home/dev/work"}]},
         400, "volume_on_workspace"),
        ({**ok, "volumes": [{"source": f"{allowed}/team", "mount_path": "relative"}]}, 422,
         None),
        ({**ok, "ssh_public_keys": ["ssh-rsa AAAA"]}, 422, None),
        ({**ok, "gpus": 65}, 422, None),
        ({**ok, "surprise": 1}, 422, None),
    ]:
        answer = client.post(ENVS, headers=alice, json=body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["detail"]
        if reason:
            assert answer.json()["reason"] == reason, answer.text
    assert client.get(ENVS, headers=alice).json()["count"] == 0


def test_a_lab_of_process_hosts_refuses_environments(client, make_user, agent_host, catalogue):
    alice = make_user("alice")
    agent_host("cpu-1", gpus=0, runtime="process")
    answer = client.post(ENVS, headers=alice, json={"name": "lab", "image":
                                                    "dllab/runtime:tf-cpu"})
    assert (answer.status_code, answer.json()["reason"]) == (400, "needs_docker_host")


def test_a_hub_that_is_down_leaves_nothing_behind(client, make_user, agent_host, catalogue,
                                                  settings):
    [settings.hub_port] = free_ports(1)  # nothing listens on it
    alice = make_user("alice")
    agent_host("gpu-1", gpus=4, runtime="docker")
    answer = client.post(ENVS, headers=alice, json={"name": "lab",
                                                    "image": "dllab/runtime:tf-cpu"})
    assert (answer.status_code, answer.json()["reason"]) == (503, "hub_unavailable")
    assert "JupyterHub is not reachable" in answer.json()["detail"]
    assert client.get(ENVS, headers=alice).json()["count"] == 0
    assert client.get("/api/v1/units", headers=alice).json()["count"] == 0


def test_only_the_hub_may_call_the_hub_endpoints(client, make_user, admin, settings):
    alice = make_user("alice")
    path = "/api/v1/hub/servers/alice/lab"
    for headers in ({}, alice, admin, {"Authorization": "Bearer wrong"}):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 401, answer.text
    hub = {"Authorization": f"Bearer {shared_secret(settings.hub_token_file)}"}
    missing = client.get(path, headers=hub)
    assert (missing.status_code, missing.json()["reason"]) == (404, "environment_not_found")
    bad = client.get("/api/v1/hub/servers/Alice!/lab", headers=hub)
    assert bad.status_code == 422


def test_a_start_the_hub_cannot_take_leaves_it_stopped(client, make_user, settings):
    [settings.hub_port] = free_ports(1)  # nothing listens on it
    alice = make_user("alice")
    with client.app.state.context.sessions() as session:
        owner = session.scalar(select(User).where(User.username == "alice"))
        env = Environment(id="e" * 32, name="lab", owner_id=owner.id,
                          image="dllab/runtime:tf-cpu", desired=Desired.stopped,
                          stop_reason="stopped by its owner")
        session.add(env)
        session.commit()
    answer = client.post(f"{ENVS}/{'e' * 32}/start", headers=alice)
    assert (answer.status_code, answer.json()["reason"]) == (503, "hub_unavailable")
    after = client.get(f"{ENVS}/{'e' * 32}", headers=alice).json()
    assert (after["state"], after["reason"]) == ("stopped", "stopped by its owner")
