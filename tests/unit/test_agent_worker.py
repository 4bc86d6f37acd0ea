"""A real agent in-process: real Celery worker on the filesystem broker, fake runtime, and a
fake control plane behind ``httpx.MockTransport`` or a local HTTP server."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from dllab import protocol
from dllab.protocol import ObservedState, UnitSpec
from dllab_agent.celery_app import make_celery
from dllab_agent.client import ControlPlaneClient, ControlPlaneError, TokenRejected
from dllab_agent.gpu import SimulatedGpus
from dllab_agent.main import Agent, run_agent
from fakes import FakeRuntime


class FakeControlPlane:
    """Answers ``/api/v1/agent/...`` and records what each route received."""

    def __init__(self, broker_url: str, name: str = "gpu-01") -> None:
        self.broker_url = broker_url
        self.name = name
        self.received: list[tuple[str, dict]] = []
        self.answers: dict[str, list[tuple[int, dict]]] = {}  # route -> queued answers
        self._lock = threading.Lock()

    def answer(self, path: str, body: dict) -> tuple[int, dict]:
        route = path.removeprefix("/api/v1/agent/").split("/")[-1]
        with self._lock:
            self.received.append((route, body))
            if self.answers.get(route):
                return self.answers[route].pop(0)
        if route == "register":
            return 200, {
                "host_id": 1,
                "name": self.name,
                "queue": f"host.{self.name}",
                "broker_url": self.broker_url,
                "heartbeat_seconds": 0.1,
            }
        if route == "logs":
            return 200, {"next_offset": body["offset"] + len(body["lines"])}
        return 204, {}

    def handle(self, request: httpx.Request) -> httpx.Response:
        status, body = self.answer(request.url.path, json.loads(request.content))
        return httpx.Response(status, json=body if status != 204 else None)

    def bodies(self, route: str) -> list[dict]:
        with self._lock:
            return [body for r, body in self.received if r == route]


def wait_for(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    return result


@pytest.fixture
def broker_url(tmp_path: Path) -> str:
    return f"filesystem://{tmp_path / 'broker'}"


@pytest.fixture
def control_plane(broker_url: str) -> FakeControlPlane:
    return FakeControlPlane(broker_url)


def make_agent(control_plane: FakeControlPlane, runtime: FakeRuntime, **options) -> Agent:
    client = ControlPlaneClient(
        "http://cp.test", "host-token", transport=httpx.MockTransport(control_plane.handle)
    )
    return Agent(client, runtime, SimulatedGpus(2, "gpu-01"), address="10.0.0.5", **options)


def send(broker_url: str, task: str, argument: object) -> None:
    sender = make_celery(broker_url)
    try:
        sender.send_task(task, args=[argument], queue="host.gpu-01")
    finally:
        sender.close()


def test_agent_serves_commands_and_reports_over_http(control_plane, broker_url):
    runtime = FakeRuntime(log_lines=["hello from the unit"])
    runtime.start(UnitSpec(unit_id="old", name="old", command=["sleep"]))  # before a restart
    agent = make_agent(control_plane, runtime)
    agent.start()
    try:
        (registration,) = control_plane.bodies("register")
        assert [u["unit_id"] for u in registration["units"]] == ["old"]
        assert [g["simulated"] for g in registration["gpus"]] == [True, True]

        spec = {"unit_id": "u-1", "name": "env-1", "command": ["jupyter"], "ports": [8888]}
        send(broker_url, protocol.TASK_START_UNIT, spec)
        send(broker_url, protocol.TASK_START_UNIT, spec)  # delivered twice
        wait_for(lambda: len(control_plane.bodies("report")) == 2)
        assert len(runtime.started) == 2  # "old" and u-1, once
        assert control_plane.bodies("report")[0]["state"] == "running"

        beat = wait_for(
            lambda: [b for b in control_plane.bodies("heartbeat") if len(b["units"]) == 2]
        )[0]
        assert len(beat["gpus"]) == 2
        wait_for(lambda: any(b["lines"] for b in control_plane.bodies("logs")))

        send(broker_url, protocol.TASK_STOP_UNIT, "u-1")
        wait_for(lambda: control_plane.bodies("report")[-1]["state"] == "missing")
        assert runtime.stopped == ["u-1"]
    finally:
        agent.stop()
    assert agent.error is None
    assert runtime.inspect("old").state is ObservedState.running  # units outlive the agent
    runtime.finish("old", 0)  # ends the log follower the agent left behind


def test_a_revoked_token_stops_the_agent(control_plane):
    agent = make_agent(control_plane, FakeRuntime())
    control_plane.answers["heartbeat"] = [(401, {"detail": "host token revoked"})]
    agent.start()
    try:
        assert agent.wait(10)
    finally:
        agent.stop()
    assert isinstance(agent.error, TokenRejected)
    assert "host token revoked" in str(agent.error)


def test_registration_waits_for_the_control_plane(control_plane):
    control_plane.answers["register"] = [(503, {"detail": "starting"})]
    agent = make_agent(control_plane, FakeRuntime(), register_timeout=30)
    agent.start()
    agent.stop()
    assert len(control_plane.bodies("register")) == 2
    assert agent.registered is not None and agent.registered.name == "gpu-01"


@pytest.mark.parametrize(("status", "timeout"), [(401, 30), (503, 0)])
def test_registration_gives_up_on_a_refusal_or_after_its_timeout(control_plane, status, timeout):
    control_plane.answers["register"] = [(status, {"detail": "no"})] * 3
    agent = make_agent(control_plane, FakeRuntime(), register_timeout=timeout)
    with pytest.raises(ControlPlaneError, match="no"):
        agent.start()
    agent.stop()
    assert len(control_plane.bodies("register")) == 1


def test_run_agent_runs_until_its_stop_event(control_plane, tmp_path):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            status, body = control_plane.answer(self.path, json.loads(self.rfile.read(length)))
            payload = json.dumps(body).encode() if status != 204 else b""
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stop = threading.Event()
    runner = threading.Thread(
        target=run_agent,
        kwargs={
            "server": f"http://127.0.0.1:{server.server_port}",
            "token": "host-token",
            "runtime_kind": "process",
            "simulate_gpus": 3,
            "state_dir": tmp_path / "state",
            "stop_event": stop,
        },
    )
    try:
        runner.start()
        wait_for(lambda: control_plane.bodies("heartbeat"))
        (registration,) = control_plane.bodies("register")
        assert registration["runtime"] == "process" and registration["address"] == "127.0.0.1"
        assert len(registration["gpus"]) == 3
        stop.set()
        runner.join(10)
        assert not runner.is_alive()
    finally:
        server.shutdown()
        server.server_close()
