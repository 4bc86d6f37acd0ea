"""A real control plane (uvicorn, PostgreSQL, Redis broker) and real agents in-process.

Drives units through both runtime drivers, restarts an agent under a running unit, and
checks that two users never see each other's units.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dllab.config import Settings
from dllab.db.models import Unit
from dllab.protocol import LABEL_UNIT, RuntimeKind
from dllab_agent.client import ControlPlaneClient
from dllab_agent.gpu import discover
from dllab_agent.main import Agent
from dllab_agent.runtime import make_runtime
from dllab_agent.tasks import start_unit
from lab_fixture import containers_labelled

pytestmark = pytest.mark.redis

Api = httpx.Client


@pytest.fixture
def database_url(fresh_postgres_url: str) -> str:
    return fresh_postgres_url


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str, admin_password: str) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=database_url,
        redis_url=redis_url,
        admin_password=admin_password,
        heartbeat_seconds=0.5,
    )


@pytest.fixture
def api(live_server: str) -> Iterator[Callable[[str, str], Api]]:
    clients: list[Api] = []

    def as_user(username: str, password: str) -> Api:
        token = httpx.post(
            f"{live_server}/api/v1/auth/token", data={"username": username, "password": password}
        ).json()
        client = httpx.Client(
            base_url=f"{live_server}/api/v1",
            timeout=30,
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
        clients.append(client)
        return client

    yield as_user
    for client in clients:
        client.close()


@pytest.fixture
def admin(api: Callable[[str, str], Api], admin_password: str) -> Api:
    return api("admin", admin_password)


@pytest.fixture
def start_agent(live_server: str, admin: Api, tmp_path: Path) -> Iterator[Callable[..., Agent]]:
    agents: list[Agent] = []
    tokens: dict[str, str] = {}

    def start(name: str, runtime: RuntimeKind, gpus: int = 4) -> Agent:
        if name not in tokens:  # a second start of the same host is an agent restart
            tokens[name] = admin.post("/hosts", json={"name": name}).json()["token"]
        state = tmp_path / f"agent-{name}"
        agent = Agent(
            ControlPlaneClient(live_server, tokens[name]),
            make_runtime(runtime, state),
            discover(gpus, str(state)),
            address="127.0.0.1",
            register_timeout=10,
        )
        agent.start()
        assert agent.registered is not None, agent.error
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        for unit in agent.runtime.list():
            agent.runtime.stop(unit.unit_id, timeout=5)
        agent.stop()


def wait_for(api: Api, unit_id: str, *states: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        unit = api.get(f"/units/{unit_id}").json()
        if unit["state"] in states:
            return unit
        assert time.monotonic() < deadline, f"unit stayed {unit['state']}: {unit}"
        time.sleep(0.1)


def wait_for_log(api: Api, unit_id: str, needle: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while needle not in (text := api.get(f"/units/{unit_id}/logs").text):
        assert time.monotonic() < deadline, f"{needle!r} not in logs: {text!r}"
        time.sleep(0.1)
    return text


PRINT_GPUS = [
    "sh",
    "-c",
    'echo "visible=${CUDA_VISIBLE_DEVICES-}/${NVIDIA_VISIBLE_DEVICES-}"; '
    "echo ready; exec sleep 300",
]


def run_unit_through(admin: Api, host: str, gpus: int = 2) -> tuple[dict[str, Any], str]:
    """Run a unit that prints its GPUs and waits; the scheduler places it, on ``host`` (the
    test's only agent)."""
    answer = admin.post("/units", json={"name": "e2e", "command": PRINT_GPUS, "gpus": gpus})
    assert answer.status_code == 201, answer.text
    assert answer.json()["host"] == host  # placed at once (its agent may report it running)
    unit = wait_for(admin, answer.json()["id"], "running")
    return unit, wait_for_log(admin, unit["id"], "ready")


def test_process_unit_starts_logs_and_stops(start_agent, admin):
    agent = start_agent("gpu-a", RuntimeKind.process)
    # Hold GPUs 0 and 1 so that the unit under test gets 2 and 3: remapping is visible.
    first, _ = run_unit_through(admin, "gpu-a")
    unit, logs = run_unit_through(admin, "gpu-a")
    assert [g["index"] for g in unit["gpus"]] == [2, 3]
    assert [g["visible_index"] for g in unit["gpus"]] == [0, 1]
    assert all(g["simulated"] and g["uuid"].startswith("GPU-") for g in unit["gpus"])
    assert "visible=2,3/" in logs
    assert all(line[:4].isdigit() for line in logs.splitlines())  # timestamped

    stopped = admin.post(f"/units/{unit['id']}/stop").json()
    assert stopped["state"] in ("stopping", "stopped")
    wait_for(admin, unit["id"], "stopped")
    assert unit["id"] not in {u.unit_id for u in agent.runtime.list()}
    assert "ready" in admin.get(f"/units/{unit['id']}/logs").text  # kept after the end
    # Its GPUs are free again: a new 2-GPU unit gets them.
    again, _ = run_unit_through(admin, "gpu-a")
    assert [g["index"] for g in again["gpus"]] == [2, 3]
    for u in (first, again):
        admin.post(f"/units/{u['id']}/stop")


@pytest.mark.docker
def test_docker_unit_starts_logs_stops_and_is_removed(
    start_agent, admin, docker_client, docker_image, settings
):
    settings.default_image = docker_image
    start_agent("gpu-d", RuntimeKind.docker)
    unit, logs = run_unit_through(admin, "gpu-d", gpus=1)
    # Simulated GPUs: no device request reached the engine, the env still names the GPU.
    assert "visible=/0" in logs
    containers = containers_labelled(docker_client, f"{LABEL_UNIT}={unit['id']}")
    assert [c.status for c in containers] == ["running"]

    admin.post(f"/units/{unit['id']}/stop")
    wait_for(admin, unit["id"], "stopped")
    assert containers_labelled(docker_client, f"{LABEL_UNIT}={unit['id']}") == []


def test_unit_that_exits_is_recorded_and_cleaned_up(start_agent, admin):
    agent = start_agent("gpu-x", RuntimeKind.process)
    answer = admin.post(
        "/units", json={"name": "fails", "command": ["sh", "-c", "echo bye; exit 3"]}
    ).json()
    unit = wait_for(admin, answer["id"], "failed")
    assert unit["exit_code"] == 3 and "3" in unit["error"]
    wait_for_log(admin, unit["id"], "bye")
    deadline = time.monotonic() + 20  # the control plane has the agent remove it
    while answer["id"] in {u.unit_id for u in agent.runtime.list()}:
        assert time.monotonic() < deadline, "ended unit left on the host"
        time.sleep(0.1)


def test_agent_restart_finds_its_unit_without_duplicate_or_orphan(start_agent, admin, app):
    first = start_agent("gpu-r", RuntimeKind.process)
    unit, _ = run_unit_through(admin, "gpu-r")
    first.stop()

    second = start_agent("gpu-r", RuntimeKind.process)
    assert [u.unit_id for u in second.runtime.list()] == [unit["id"]]
    assert admin.get(f"/units/{unit['id']}").json()["state"] == "running"
    # A start command delivered again (acks_late redelivery) starts nothing twice.
    with app.state.context.sessions() as session:
        spec = session.get(Unit, unit["id"]).spec
    start_unit(second.ctx, spec)
    assert [u.unit_id for u in second.runtime.list()] == [unit["id"]]
    assert wait_for(admin, unit["id"], "running")["host"] == "gpu-r"

    admin.post(f"/units/{unit['id']}/stop")
    wait_for(admin, unit["id"], "stopped")
    assert second.runtime.list() == []


def test_two_users_cannot_see_or_touch_each_others_units(start_agent, admin, api):
    start_agent("gpu-u", RuntimeKind.process)
    for name in ("alice", "bob"):
        assert (
            admin.post(
                "/users", json={"username": name, "password": f"{name}-secret-1"}
            ).status_code
            == 201
        )
    alice, bob = api("alice", "alice-secret-1"), api("bob", "bob-secret-1")
    unit = alice.post("/units", json={"name": "mine", "command": ["sleep", "300"]}).json()
    wait_for(alice, unit["id"], "running")

    assert bob.get(f"/units/{unit['id']}").status_code == 404
    assert bob.post(f"/units/{unit['id']}/stop").status_code == 404
    assert bob.get(f"/units/{unit['id']}/logs").status_code == 404
    assert bob.get("/units").json() == {"data": [], "count": 0}
    assert admin.get(f"/units/{unit['id']}").json()["owner"] == "alice"
    assert alice.get(f"/units/{unit['id']}").json()["state"] == "running"
    alice.post(f"/units/{unit['id']}/stop")
    wait_for(alice, unit["id"], "stopped")


def test_a_unit_gone_while_its_agent_was_down_is_lost_and_frees_its_gpus(start_agent, admin):
    first = start_agent("gpu-l", RuntimeKind.process, gpus=2)
    unit, _ = run_unit_through(admin, "gpu-l", gpus=2)
    first.stop()
    first.runtime.stop(unit["id"], timeout=5)  # the host rebooted, say

    start_agent("gpu-l", RuntimeKind.process, gpus=2)
    lost = wait_for(admin, unit["id"], "lost")
    assert "no longer" in lost["error"]
    again, _ = run_unit_through(admin, "gpu-l", gpus=2)  # its GPUs are free again
    admin.post(f"/units/{again['id']}/stop")
    wait_for(admin, again["id"], "stopped")


def test_a_unit_removed_behind_a_running_agent_ends_and_frees_its_gpu(start_agent, admin):
    agent = start_agent("gpu-v", RuntimeKind.process, gpus=1)
    unit, _ = run_unit_through(admin, "gpu-v", gpus=1)
    agent.runtime.stop(unit["id"], timeout=5)  # docker rm -f, an OOM killer, a person
    # A heartbeat may catch it between its SIGTERM and its removal (failed, code 143);
    # either way it has ended and its GPU is free again.
    ended = wait_for(admin, unit["id"], "lost", "failed")
    assert ended["error"] in ("its host no longer runs it", "exited with code 143")
    again, _ = run_unit_through(admin, "gpu-v", gpus=1)
    admin.post(f"/units/{again['id']}/stop")
    wait_for(admin, again["id"], "stopped")
