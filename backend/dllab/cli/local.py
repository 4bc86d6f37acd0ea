"""Commands that run parts of the platform on this machine: ``server`` and ``up``.

``dllab agent`` comes from the agent package (``dllab_agent.cli``), which plugs it in
through the ``dllab.commands`` entry point: the control plane never imports the agent.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import click
import httpx

from dllab.config import HUB_BASE_URL, Settings, get_settings


@click.command()
def server() -> None:
    """Run the control plane (settings from DLLAB_* environment variables)."""
    import uvicorn

    from dllab.main import create_app

    settings = get_settings()
    logging.getLogger("uvicorn.access").addFilter(_QuietAgentPolls())
    # Keep-alive longer than the edge proxy's idle timeout (Traefik: 90 s): the proxy must be
    # the side that closes, or it may send a request down a connection closing under it.
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level="info", proxy_headers=True, timeout_keep_alive=120)


class _QuietAgentPolls(logging.Filter):
    """Keep heartbeats and log batches (several a second per host) out of the access log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(isinstance(a, str) and a.startswith("/api/v1/agent/")
                       for a in (record.args or ()))


@click.command()
def hub() -> None:
    """Run JupyterHub as DLLab configures it (environments are its named servers)."""
    import dllab.hub

    config = Path(dllab.hub.__file__).with_name("jupyterhub_config.py")
    settings = get_settings()
    state = settings.home / "hub"
    state.mkdir(parents=True, exist_ok=True)
    os.chdir(state)  # where JupyterHub writes what it writes beside its config
    os.execv(sys.executable, [sys.executable, "-m", "jupyterhub", "-f", str(config)])


@click.command()
def edge() -> None:
    """Run the edge proxy (Traefik) in front of the console, API and JupyterHub."""
    from dllab import edge as edge_proxy

    settings = get_settings()
    static = edge_proxy.write_config(settings)
    binary = edge_proxy.traefik_binary()
    os.execv(binary, [binary, "--configfile", str(static)])


def local_host_name() -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", socket.gethostname().lower()).strip("-")[:63]
    return name or "local"


def _prepare(settings: Settings) -> tuple[str | None, str]:
    """Migrate the database, create the first admin and the local host; return the
    generated admin password (if any) and the local host's token."""
    from dllab.db import make_engine, make_session_factory, migrate
    from dllab.services.auth import ensure_admin
    from dllab.services.hosts import ensure_host_token
    from dllab.services.images import ensure_runtime_image

    settings.home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.sqlalchemy_url)
    migrate.upgrade(engine)
    token_file = settings.home / "local-host-token"
    known = token_file.read_text().strip() if token_file.exists() else None
    with make_session_factory(engine)() as session:
        password = ensure_admin(session, settings)
        ensure_runtime_image(session)
        token = ensure_host_token(session, settings, local_host_name(), known)
    engine.dispose()
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    return password, token


def _wait_online(settings: Settings, host_name: str, deadline: float) -> dict | None:
    """Poll the API until the local host is online; return it, or None at the deadline."""
    from dllab.db import make_engine, make_session_factory
    from dllab.services.hosts import list_hosts

    engine = make_engine(settings.sqlalchemy_url)
    try:
        while time.monotonic() < deadline:
            with make_session_factory(engine)() as session:
                hosts, _ = list_hosts(session, settings, 0, 500)
            for h in hosts:
                if h.name == host_name and h.status == "online":
                    return h.model_dump()
            time.sleep(0.5)
    finally:
        engine.dispose()
    return None


@click.command()
@click.option("--simulate-gpus", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Simulated GPUs for the local agent when NVML finds no GPU.")
def up(simulate_gpus: int) -> None:
    """Bring the whole platform up on this machine: control plane, edge proxy, JupyterHub
    and a local agent.

    Embedded defaults: SQLite and a filesystem broker under DLLAB_HOME (./.dllab); the
    console on http://127.0.0.1:DLLAB_EDGE_PORT (8080), through the edge proxy; the control
    plane itself on DLLAB_PORT (8000). Ctrl-C stops everything it started.
    """
    signal.signal(signal.SIGTERM, _interrupt)  # stop the children on SIGTERM too
    settings = get_settings()
    password, token = _prepare(settings)
    env = {**os.environ, "DLLAB_HOME": str(settings.home.resolve())}
    settings.artifacts_dir.mkdir(parents=True, exist_ok=True)
    agent_env = {**env, "DLLAB_HOST_TOKEN": token,  # not an argument: ps shows those
                 # Job replicas mount their folders of the artifact store.
                 "DLLAB_VOLUME_ROOTS": " ".join(filter(None, [
                     os.environ.get("DLLAB_VOLUME_ROOTS"), str(settings.artifacts_dir)]))}
    part = [sys.executable, "-m", "dllab.cli"]
    children = [subprocess.Popen([*part, "server"], env=env)]
    agent_cmd = [*part, "agent", "--server", settings.url,
                 "--state-dir", str((settings.home / "agent").resolve()),
                 "--address", "127.0.0.1", "--simulate-gpus-if-none", str(simulate_gpus)]
    try:
        _wait_http(settings.url + "/api/v1/health", children[0], "the control plane")
        children += [subprocess.Popen([*part, "edge"], env=env),
                     subprocess.Popen([*part, "hub"], env=env),
                     subprocess.Popen(agent_cmd, env=agent_env)]
        _wait_http(f"{settings.public_edge_url}{HUB_BASE_URL}hub/api", children[2],
                   "JupyterHub, through the edge proxy")
        host = _wait_online(settings, local_host_name(), time.monotonic() + 30)
        _banner(settings, password, host)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        raise click.ClickException("a part of the platform stopped; see the log above")
    except KeyboardInterrupt:
        click.echo("\nStopping DLLab...")
    finally:
        for child in reversed(children):  # the agent first, the control plane last
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _wait_http(url: str, process: subprocess.Popen[bytes], what: str,
               seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise click.ClickException(f"{what} failed to start; see above")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise click.ClickException(f"{what} did not answer at {url} within {seconds:g} s")


def _banner(settings: Settings, password: str | None, host: dict | None) -> None:
    if password:
        login = f"user {settings.admin_username!r}, password {password} (printed only now; " \
                f"also saved in {settings.home / 'admin-password'})"
    elif settings.admin_password:
        login = f"user {settings.admin_username!r} with the password in DLLAB_ADMIN_PASSWORD"
    else:
        login = f"user {settings.admin_username!r}, password in " \
                f"{settings.home / 'admin-password'}"
    if host is None:
        agent_line = "the local agent has not come online yet; see its log above"
    else:
        gpus = host["gpus"]
        kind = "simulated " if gpus and gpus[0]["simulated"] else ""
        agent_line = f"host {host['name']!r} online, runtime {host['runtime']}, " \
                     f"{len(gpus)} {kind}GPUs"
    click.echo("\n".join([
        "", "DLLab is up.",
        f"  Console:     {settings.public_edge_url}/",
        f"  Log in as:   {login}",
        f"  API docs:    {settings.public_edge_url}/docs",
        f"  JupyterHub:  {settings.public_edge_url}{HUB_BASE_URL} (environments; same login)",
        f"  GPU metrics: {settings.url}/metrics (Prometheus, with an admin's API token); the "
        f"agent's: http://127.0.0.1:{os.environ.get('DLLAB_AGENT_METRICS_PORT', '9402')}/metrics",
        f"  Local agent: {agent_line}",
        "  Press Ctrl-C to stop.", "",
    ]))
