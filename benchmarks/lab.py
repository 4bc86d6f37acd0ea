"""What the platform benchmarks share: ``dllab up`` in a temporary DLLAB_HOME on free
ports (control plane, Traefik, JupyterHub, a local agent on the docker runtime with
simulated GPUs), a console session on it, and percentiles."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

PASSWORD = "bench-admin-password"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_platform(home: Path, gpus: int = 8) -> Iterator[str]:
    """``dllab up`` with ``gpus`` simulated GPUs; yields the edge URL, stops it after."""
    ports = {name: free_port() for name in ("PORT", "EDGE_PORT", "EDGE_API_PORT", "HUB_PORT")}
    env = {**os.environ, "DLLAB_HOME": str(home), "DLLAB_ADMIN_PASSWORD": PASSWORD,
           **{f"DLLAB_{name}": str(port) for name, port in ports.items()}}
    log = home.parent / "up.log"
    with log.open("wb") as out:
        up = subprocess.Popen([sys.executable, "-m", "dllab.cli", "up", "--simulate-gpus",
                               str(gpus)], env=env, stdout=out, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "Press Ctrl-C" not in log.read_text():
            if up.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"dllab up did not come up:\n{log.read_text()}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{ports['EDGE_PORT']}"
    finally:
        os.killpg(up.pid, signal.SIGINT)
        up.wait(60)


@contextmanager
def console(edge: str) -> Iterator[httpx.Client]:
    """A client with the admin's console session, as a browser has it."""
    with httpx.Client(base_url=edge, timeout=60, follow_redirects=True) as client:
        answer = client.post("/api/v1/auth/login",
                             json={"username": "admin", "password": PASSWORD})
        answer.raise_for_status()
        client.headers["X-CSRF-Token"] = client.cookies["dllab_csrf"]
        yield client


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
