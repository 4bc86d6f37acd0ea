"""Pytest plugin: ``lab``, the whole platform as ``make run`` brings it up.

``dllab up`` runs in a process group of its own, on free ports, with DLLAB_HOME in a
temporary folder: control plane, edge proxy (Traefik), JupyterHub and a local agent on the
docker runtime with 4 simulated GPUs. Module-scoped: starting it takes seconds.

``lab.login(username, password)`` -> an httpx client on the edge with a console session
(cookies, CSRF header), as a browser has; ``lab.admin`` is the admin's (bearer token) on
the API. At teardown every environment is deleted through the API, ``dllab up`` is stopped
with Ctrl-C (SIGINT to its group), and containers its agent left are removed.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

RUNTIME_IMAGE = os.environ.get("DLLAB_TEST_RUNTIME_IMAGE", "dllab/runtime:tf-cpu")
ADMIN_PASSWORD = "lab-admin-password"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def eventually(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"not after {timeout} s: {what}"
        time.sleep(0.1)
    return result


@dataclass
class Lab:
    edge: str  # what users open: console, API, JupyterHub
    api: str  # the control plane, directly
    home: Path
    admin: httpx.Client
    output: Path  # what `dllab up` and its parts printed
    clients: list[httpx.Client] = field(default_factory=list)  # closed at teardown

    def login(self, username: str, password: str) -> httpx.Client:
        client = httpx.Client(base_url=self.edge, timeout=60, follow_redirects=True)
        self.clients.append(client)
        answer = client.post("/api/v1/auth/login",
                             json={"username": username, "password": password})
        assert answer.status_code == 200, answer.text
        client.headers["X-CSRF-Token"] = client.cookies["dllab_csrf"]
        return client

    def add_user(self, username: str) -> httpx.Client:
        password = f"{username}-password"
        answer = self.admin.post("/users", json={"username": username, "password": password})
        assert answer.status_code == 201, answer.text
        return self.login(username, password)

    def wait_state(self, client: httpx.Client, environment_id: str, *states: str,
                   timeout: float = 180) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            env = client.get(f"/api/v1/environments/{environment_id}").json()
            assert env.get("state") != "failed" or "failed" in states, env
            return env if env.get("state") in states else None

        return eventually(reached, f"environment {environment_id} {'/'.join(states)}",
                          timeout)


@pytest.fixture(scope="module")
def lab(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    try:
        docker_client.images.get(RUNTIME_IMAGE)
    except Exception as exc:  # built by `make images`, which CI runs
        pytest.fail(f"{RUNTIME_IMAGE} is missing ({exc}): build it with `make images`")
    home = tmp_path_factory.mktemp("lab") / "home"
    ports = {name: free_port() for name in ("PORT", "EDGE_PORT", "EDGE_API_PORT", "HUB_PORT")}
    env = {**os.environ, "DLLAB_HOME": str(home), "DLLAB_ADMIN_PASSWORD": ADMIN_PASSWORD,
           **{f"DLLAB_{name}": str(port) for name, port in ports.items()}}
    output = home.parent / "up.log"
    with output.open("wb") as out:
        up = subprocess.Popen([sys.executable, "-m", "dllab.cli", "up"], env=env,
                              stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    edge, api = f"http://127.0.0.1:{ports['EDGE_PORT']}", f"http://127.0.0.1:{ports['PORT']}"
    admin = None
    try:
        eventually(lambda: up.poll() is None and "Press Ctrl-C" in output.read_text(),
                   f"dllab up ready; it printed:\n{output.read_text()}", timeout=120)
        token = httpx.post(f"{api}/api/v1/auth/token", data={
            "username": "admin", "password": ADMIN_PASSWORD}).json()["access_token"]
        admin = httpx.Client(base_url=f"{api}/api/v1", timeout=60,
                             headers={"Authorization": f"Bearer {token}"})
        lab = Lab(edge=edge, api=api, home=home, admin=admin, output=output)
        yield lab
        for client in lab.clients:
            client.close()
    finally:
        if admin is not None:
            for environment in admin.get("/environments", params={"limit": 500}).json()["data"]:
                admin.delete(f"/environments/{environment['id']}")
            admin.close()
        os.killpg(up.pid, signal.SIGINT)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
        agent_id = home / "agent" / "agent-id"
        if agent_id.exists():
            for container in docker_client.containers.list(all=True, filters={
                    "label": f"dllab.agent={agent_id.read_text().strip()}"}):
                container.remove(force=True)


def banner_value(output: Path, label: str) -> str:
    found = re.search(rf"{label}:\s+(\S+)", output.read_text())
    assert found, output.read_text()
    return found.group(1)
