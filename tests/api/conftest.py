"""Fixtures for the API tests, on top of those in ``tests/conftest.py``.

``agent``      ``agent("gpu-1", gpus=4)`` -> a ``SimulatedAgent``: a host registered over the
               API (``agent_host``) whose agent the test plays by hand: heartbeats, unit
               reports and log lines, all sent with the host token
``broker``     ``Broker``: the Celery messages the control plane queued on the filesystem
               broker under DLLAB_HOME, decoded (queue, task name, arguments)
``login_as``   ``login_as("bob", "secret")`` -> bearer headers (POST /auth/token)
``run_unit``   ``run_unit(headers, gpus=2, name="train")`` -> the created unit's JSON (201)
``db``         the app's session factory, to read rows or move timestamps directly
``api``        a TestClient on ``app`` that answers a server error with its 500 instead of
               raising it, for tests that assert on status codes of bad requests
``dllab``      ``dllab("hosts")`` runs the CLI as a user would (its own config file, no
               DLLAB_SERVER/TOKEN); returns its output, asserting success (``ok=False``:
               failure)
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from dllab.cli import main
from dllab.config import Settings

Headers = dict[str, str]


class SimulatedAgent:
    """The agent side of ``/api/v1/agent/*`` for one host, driven by the test."""

    def __init__(self, client: TestClient, name: str, headers: Headers, gpus: int):
        self.client, self.name, self.headers = client, name, headers
        self.gpus = [{"index": i, "uuid": f"GPU-00000000-0000-0000-0000-{i:012d}",
                      "model": "DLLab Simulated GPU", "memory_total_mib": 16384,
                      "memory_used_mib": 0, "simulated": True} for i in range(gpus)]

    def heartbeat(self, units: list[dict[str, Any]] | None = None) -> httpx.Response:
        return self.client.post("/api/v1/agent/heartbeat", headers=self.headers,
                                json={"gpus": self.gpus, "units": units or []})

    def report(self, unit_id: str, state: str, **fields: Any) -> httpx.Response:
        return self.client.post(f"/api/v1/agent/units/{unit_id}/report", headers=self.headers,
                                json={"unit_id": unit_id, "state": state, **fields})

    def ship_logs(self, unit_id: str, offset: int, lines: list[str]) -> httpx.Response:
        return self.client.post(f"/api/v1/agent/units/{unit_id}/logs", headers=self.headers,
                                json={"offset": offset, "lines": lines})


@pytest.fixture
def agent(client: TestClient,
          agent_host: Callable[..., Headers]) -> Callable[..., SimulatedAgent]:
    def make(name: str, gpus: int = 4, runtime: str = "process",
             address: str = "127.0.0.1") -> SimulatedAgent:
        return SimulatedAgent(client, name, agent_host(name, gpus=gpus, runtime=runtime,
                                                       address=address), gpus)

    return make


@dataclass(frozen=True)
class Message:
    queue: str
    task: str
    args: list[Any]


class Broker:
    """Reads the embedded filesystem broker: one JSON file per message, base64 body."""

    def __init__(self, folder: Path):
        self.folder = folder

    def messages(self, task: str | None = None) -> list[Message]:
        found = []
        for path in sorted(self.folder.glob("*.msg")):
            raw = json.loads(path.read_text())
            args, _kwargs, _embed = json.loads(base64.b64decode(raw["body"]))
            message = Message(queue=raw["properties"]["delivery_info"]["routing_key"],
                              task=raw["headers"]["task"], args=args)
            if task is None or message.task == task:
                found.append(message)
        return found


@pytest.fixture
def broker(settings: Settings) -> Broker:
    return Broker(settings.home / "broker" / "queue")


@pytest.fixture
def login_as(client: TestClient) -> Callable[[str, str], Headers]:
    def login(username: str, password: str) -> Headers:
        answer = client.post("/api/v1/auth/token",
                             data={"username": username, "password": password})
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    return login


@pytest.fixture
def run_unit(client: TestClient) -> Callable[..., dict[str, Any]]:
    def create(headers: Headers, gpus: int = 0, name: str = "work",
               **fields: Any) -> dict[str, Any]:
        answer = client.post("/api/v1/units", headers=headers, json={
            "name": name, "command": ["python", "train.py"], "gpus": gpus, **fields})
        assert answer.status_code == 201, answer.text
        unit: dict[str, Any] = answer.json()
        return unit

    return create


@pytest.fixture
def db(app: FastAPI) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = app.state.context.sessions
    return sessions


@pytest.fixture
def api(app: FastAPI, client: TestClient) -> TestClient:
    # Not entered: the lifespan is `client`'s, which every API test already runs.
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def dllab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DLLAB_CONFIG", str(tmp_path / "cli" / "config.json"))
    monkeypatch.delenv("DLLAB_SERVER", raising=False)
    monkeypatch.delenv("DLLAB_TOKEN", raising=False)
    runner = CliRunner()

    def run(*args: str, ok: bool = True) -> str:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert (result.exit_code == 0) == ok, result.output
        return result.output

    return run
