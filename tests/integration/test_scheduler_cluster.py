"""The scheduler with three real agents (process runtime; 2, 4 and 8 simulated GPUs), a real
control plane (uvicorn, its scheduler thread on, PostgreSQL) and a real Redis broker.

More is submitted than fits: the overflow waits with its reasons, queued work starts as GPUs
free, and the control plane is restarted in the middle, while a unit ends behind its back,
with nothing double-booked or lost.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from dllab.config import Settings
from dllab.main import create_app
from dllab.protocol import FINAL_UNIT_STATES, ObservedState, RuntimeKind
from dllab_agent.runtime import make_runtime
from dllab_agent.runtime.base import Runtime
from lab_fixture import eventually
from ports import free_ports

pytestmark = pytest.mark.redis


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the main thread belongs to pytest
        pass


class ControlPlane:
    """``create_app(settings)`` served on one port, lifespan (the scheduler thread) on;
    stopped and started again on the same port as a restart."""

    def __init__(self, settings: Settings) -> None:
        [settings.port] = free_ports(1)
        self.settings, self.url = settings, f"http://127.0.0.1:{settings.port}"
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._server = _Server(uvicorn.Config(create_app(self.settings), host="127.0.0.1",
                                              port=self.settings.port, log_level="warning",
                                              access_log=False))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            assert self._thread.is_alive() and time.monotonic() < deadline, "did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(15)
        assert not self._thread.is_alive(), "the control plane did not stop"


@pytest.fixture
def control_plane(tmp_path: Path, fresh_postgres_url: str, redis_url: str,
                  admin_password: str) -> Iterator[ControlPlane]:
    plane = ControlPlane(Settings(
        home=tmp_path / "home", database_url=fresh_postgres_url, redis_url=redis_url,
        admin_password=admin_password, heartbeat_seconds=0.5, scheduler_seconds=0.5))
    plane.start()
    yield plane
    plane.stop()


@pytest.fixture
def admin(control_plane: ControlPlane, admin_password: str) -> Iterator[httpx.Client]:
    token = httpx.post(f"{control_plane.url}/api/v1/auth/token",
                       data={"username": "admin", "password": admin_password}).json()
    with httpx.Client(base_url=f"{control_plane.url}/api/v1", timeout=30, headers={
            "Authorization": f"Bearer {token['access_token']}"}) as client:
        yield client


@dataclass
class AgentProcess:
    """``dllab agent`` in a process of its own, as on a real host (Celery workers share
    process-wide state, so one process runs one), and its runtime, to look at its units."""

    process: subprocess.Popen[bytes]
    runtime: Runtime
    log: Path


@pytest.fixture
def agents(control_plane: ControlPlane, admin: httpx.Client,
           tmp_path: Path) -> Iterator[dict[str, AgentProcess]]:
    started = {}
    for name, gpus in (("gpu-2", 2), ("gpu-4", 4), ("gpu-8", 8)):
        token = admin.post("/hosts", json={"name": name}).json()["token"]
        state, log = tmp_path / f"agent-{name}", tmp_path / f"agent-{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "dllab.cli", "agent", "--server", control_plane.url,
                 "--runtime", "process", "--simulate-gpus", str(gpus), "--state-dir",
                 str(state), "--address", "127.0.0.1"],
                env={**os.environ, "DLLAB_HOST_TOKEN": token}, stdout=out,
                stderr=subprocess.STDOUT)
        started[name] = AgentProcess(process, make_runtime(RuntimeKind.process, state), log)
    try:
        eventually(lambda: all(h["status"] == "online" and h["gpus"]
                               for h in admin.get("/hosts").json()["data"]),
                   "three agents online")
        yield started
    finally:
        for agent in started.values():
            agent.process.terminate()
        for agent in started.values():
            try:
                agent.process.wait(15)
            except subprocess.TimeoutExpired:
                agent.process.kill()
            for unit in agent.runtime.list():
                agent.runtime.stop(unit.unit_id, timeout=5)
            # Captured: pytest shows it when the test failed.
            print(f"--- {agent.log.name}\n{agent.log.read_text()[-4000:]}")


def units_by_name(admin: httpx.Client) -> dict[str, dict[str, Any]]:
    page = admin.get("/units", params={"limit": 500}).json()
    return {u["name"]: u for u in page["data"]}


def in_state(admin: httpx.Client, name: str, *states: str) -> dict[str, Any] | None:
    unit = units_by_name(admin)[name]
    return unit if unit["state"] in states else None


def check_no_double_booking(admin: httpx.Client, agents: dict[str, AgentProcess]) -> None:
    """Every GPU is held by one unit at most, in the database and on the hosts alike."""
    held: dict[tuple[str, int], str] = {}
    active = [u for u in units_by_name(admin).values()
              if u["state"] not in FINAL_UNIT_STATES and u["host"]]
    for unit in active:
        for gpu in unit["gpus"]:
            key = (unit["host"], gpu["index"])
            assert key not in held, f"GPU {key} held by {held.get(key)} and {unit['name']}"
            held[key] = unit["name"]
    cluster = admin.get("/cluster").json()
    shown = {(h["name"], g["index"]): g["held_by"]["unit_name"]
             for h in cluster["hosts"] for g in h["gpus"] if g["held_by"]}
    assert shown == held
    for name, agent in agents.items():
        running = {r.unit_id for r in agent.runtime.list() if r.state == ObservedState.running}
        expected = {u["id"] for u in active if u["host"] == name and u["state"] == "running"}
        assert running >= expected, f"{name} lacks units the control plane has running"


def submit(admin: httpx.Client, name: str, gpus: int, command: list[str]) -> dict[str, Any]:
    answer = admin.post("/units", json={"name": name, "gpus": gpus, "command": command})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_overflow_queues_with_reasons_and_survives_a_control_plane_restart(
        control_plane, admin, agents, tmp_path):
    sleep = ["sleep", "300"]
    go = tmp_path / "go"
    until_go = ["sh", "-c", f"while [ ! -f {go} ]; do sleep 0.1; done"]

    # 8 + 4 + 2 fill the three hosts exactly; the rest waits.
    placed = {name: submit(admin, name, gpus, cmd) for name, gpus, cmd in (
        ("eight", 8, sleep), ("four", 4, sleep), ("two", 2, until_go))}
    assert {n: u["host"] for n, u in placed.items()} == \
        {"eight": "gpu-8", "four": "gpu-4", "two": "gpu-2"}
    waits_four = submit(admin, "waits-four", 4, sleep)
    waits_two = submit(admin, "waits-two", 2, sleep)
    never = submit(admin, "never", 16, sleep)
    assert (waits_four["state"], waits_four["position"], waits_four["reason"]) == \
        ("queued", 1, "needs 4 GPUs on one host; largest free block is 0")
    assert (waits_two["state"], waits_two["position"]) == ("queued", 2)
    assert (never["state"], never["reason"]) == \
        ("queued", "needs 16 GPUs on one host; largest host has 8")
    for name in placed:
        eventually(lambda n=name: in_state(admin, n, "running"), f"{name} running")
    queue = admin.get("/queue").json()
    assert [(e["name"], e["position"]) for e in queue["data"]] == \
        [("waits-four", 1), ("waits-two", 2), ("never", 3)]
    assert queue["data"][0]["reserved_hosts"] == ["gpu-4"]  # fewest busy GPUs to wait for
    check_no_double_booking(admin, agents)
    before = units_by_name(admin)

    # Restart the control plane; while it is down, "two" ends on its host.
    control_plane.stop()
    go.touch()
    eventually(lambda: agents["gpu-2"].runtime.inspect(placed["two"]["id"]).state
               == ObservedState.exited, "two exited on its host")
    control_plane.start()

    # Its end is reported, its GPUs go to the queue's second (the head waits for gpu-4).
    exited = eventually(lambda: in_state(admin, "two", "exited"), "two recorded exited")
    assert exited["exit_code"] == 0
    moved = eventually(lambda: in_state(admin, "waits-two", "running"), "waits-two running")
    assert moved["host"] == "gpu-2"
    after = units_by_name(admin)
    assert set(after) == set(before)  # nothing lost, nothing new
    for name in ("eight", "four"):
        assert (after[name]["state"], after[name]["gpus"]) == \
            ("running", before[name]["gpus"])
    head = after["waits-four"]
    assert (head["state"], head["position"]) == ("queued", 1)
    check_no_double_booking(admin, agents)

    # Stopping "four" frees gpu-4, held for the head: it starts there.
    admin.post(f"/units/{placed['four']['id']}/stop")
    started = eventually(lambda: in_state(admin, "waits-four", "running"), "head running")
    assert started["host"] == "gpu-4"
    assert [g["visible_index"] for g in started["gpus"]] == [0, 1, 2, 3]
    assert in_state(admin, "never", "queued")["position"] == 1
    check_no_double_booking(admin, agents)
    assert not [u for u in units_by_name(admin).values() if u["state"] in ("lost", "failed")]
