"""Fixtures shared by the whole suite.

Services (from ``service_fixtures.py``, session-scoped): ``redis_url``, ``postgres_url``,
``docker_client``, ``docker_image``, ``chromium_path``. Missing ones skip, or fail when
listed in ``DLLAB_TEST_REQUIRE`` (CI lists them all).

Control plane (function-scoped, a fresh database each test):
``fresh_postgres_url`` an empty PostgreSQL database of this test session's own (so that
                  two runs at once never share one), its schema reset for each test
``database_url``  run once on SQLite and once on PostgreSQL (``postgres`` marker)
``admin_password`` the first admin's password in ``settings``
``settings``      ``Settings`` with DLLAB_HOME in a temporary directory, a filesystem broker
                  there, the admin password ``admin_password`` and no scheduler thread
``app``           ``create_app(settings)``
``client``        a TestClient on ``app``, not logged in
``admin``         headers of the first admin (a bearer login token)
``make_user``     ``make_user("alice")`` -> bearer headers of a new user with role user,
                  whose password is ``"alice-password"``
``agent_host``    ``agent_host("gpu-1", gpus=4)`` -> headers of a host whose agent has
                  registered over the API with that many simulated GPUs (online)
``live_server``   ``app`` served by uvicorn on a free loopback port: its base URL
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url, text

from dllab.config import Settings
from dllab.main import create_app
from ports import free_ports

pytest_plugins = ["service_fixtures", "lab_fixture"]

ADMIN_PASSWORD = "admin-password-for-tests"
Headers = dict[str, str]


@pytest.fixture(scope="session")
def session_postgres_url(postgres_url: str) -> Iterator[str]:
    server = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    name = f"dllab_test_{os.getpid()}_{secrets.token_hex(3)}"
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    with server.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    server.dispose()


@pytest.fixture
def fresh_postgres_url(session_postgres_url: str) -> str:
    engine = create_engine(session_postgres_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return session_postgres_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'dllab.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


@pytest.fixture
def admin_password() -> str:
    return ADMIN_PASSWORD


@pytest.fixture
def settings(tmp_path: Path, database_url: str, admin_password: str) -> Settings:
    # No scheduler thread: passes run on submissions, ended units and registrations, so
    # that what a test sees follows from what it did. Tests of the thread turn it on. The
    # same for the monitoring loops (alerts, reclaim, history): tests call them.
    return Settings(home=tmp_path / "home", database_url=database_url,
                    admin_password=admin_password, scheduler_seconds=0, monitoring_seconds=0)


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    app = create_app(settings)
    yield app
    app.state.context.dispatcher.close()
    app.state.context.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def login(client: TestClient, username: str, password: str) -> Headers:
    answer = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.fixture
def admin(client: TestClient, admin_password: str) -> Headers:
    return login(client, "admin", admin_password)


@pytest.fixture
def make_user(client: TestClient, admin: Headers) -> Callable[..., Headers]:
    def make(username: str, role: str = "user") -> Headers:
        password = f"{username}-password"
        answer = client.post("/api/v1/users", headers=admin,
                             json={"username": username, "password": password, "role": role})
        assert answer.status_code == 201, answer.text
        return login(client, username, password)

    return make


@pytest.fixture
def agent_host(client: TestClient, admin: Headers) -> Callable[..., Headers]:
    def register(name: str, gpus: int = 4, runtime: str = "process",
                 address: str = "127.0.0.1") -> Headers:
        created = client.post("/api/v1/hosts", headers=admin, json={"name": name})
        assert created.status_code == 201, created.text
        headers = {"Authorization": f"Bearer {created.json()['token']}"}
        inventory = [{"index": i, "uuid": f"GPU-00000000-0000-0000-0000-{i:012d}",
                      "model": "DLLab Simulated GPU", "memory_total_mib": 16384,
                      "memory_used_mib": 0, "simulated": True} for i in range(gpus)]
        answer = client.post("/api/v1/agent/register", headers=headers, json={
            "runtime": runtime, "address": address, "version": "test",
            "gpus": inventory, "units": []})
        assert answer.status_code == 200, answer.text
        return headers

    return register


class _ThreadServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the main thread belongs to pytest
        pass


@pytest.fixture
def live_server(app: FastAPI, settings: Settings) -> Iterator[str]:
    [port] = free_ports(1)
    settings.port = port  # so that the URLs the app hands out (agent commands) are right
    server = _ThreadServer(uvicorn.Config(app, host="127.0.0.1", port=port,
                                          log_level="warning", lifespan="off",
                                          access_log=False))
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "live server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(15)
    assert not thread.is_alive(), "the live server did not stop"
