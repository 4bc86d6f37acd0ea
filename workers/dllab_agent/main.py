"""Running an agent: register, heartbeat, ship logs, serve commands until told to stop.

``run_agent`` is what ``dllab agent`` calls: it runs in the foreground until SIGINT or
SIGTERM. ``Agent`` is the same thing with ``start()`` / ``stop()`` for tests and
benchmarks that run real agents in-process. Units outlive the agent by design: stopping it
stops nothing but the agent, and a restarted agent finds its units by label and reports
them in its registration.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIServer

from celery.worker import WorkController
from kombu.utils.url import maybe_sanitize_url

from dllab.protocol import (
    AgentHeartbeat,
    AgentRegister,
    AgentRegistered,
    ObservedState,
    RuntimeKind,
)
from dllab_agent import __version__
from dllab_agent.celery_app import AppThreadPool, make_celery
from dllab_agent.client import ControlPlaneClient, ControlPlaneError, TokenRejected
from dllab_agent.context import AgentContext
from dllab_agent.gpu import GpuSource, discover
from dllab_agent.logship import LogShipping
from dllab_agent.runtime import docker_available, make_runtime
from dllab_agent.runtime.base import Runtime
from dllab_agent.sampling import METRICS_PORT, Sampler, serve_metrics
from dllab_agent.tasks import register_tasks

log = logging.getLogger("dllab_agent")


class AgentFailed(Exception):
    """The agent stopped on its own; ``str(exc)`` says why."""


class _Worker(WorkController):
    def __init__(self, **kwargs: object) -> None:
        self.ready = threading.Event()
        super().__init__(**kwargs)

    def on_consumer_ready(self, consumer: object) -> None:
        self.ready.set()


def default_address(server_url: str) -> str:
    """The local address that routes to the control plane: other hosts reach us there too."""
    parts = urlsplit(server_url)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((parts.hostname or "localhost", parts.port or 80))  # sends nothing
            return str(probe.getsockname()[0])
    except OSError:
        return socket.gethostname()


class Agent:
    def __init__(
        self,
        client: ControlPlaneClient,
        runtime: Runtime,
        gpus: GpuSource,
        *,
        address: str,
        broker_url: str | None = None,
        heartbeat_seconds: float | None = None,
        concurrency: int = 4,
        register_timeout: float = 300.0,
        stop_event: threading.Event | None = None,
        volume_roots: tuple[Path, ...] = (),
        workspace_root: Path = Path("workspaces"),
        sample_seconds: float = 1.0,
        metrics_port: int | None = None,
    ) -> None:
        self.client = client
        self.runtime = runtime
        self.gpus = gpus
        self.address = address
        self.broker_url = broker_url
        self.heartbeat_seconds = heartbeat_seconds
        self.concurrency = concurrency
        self.register_timeout = register_timeout
        #: Set to ask the agent to stop (signals, a revoked token, a dead worker).
        self.stopping = stop_event or threading.Event()
        self.registered: AgentRegistered | None = None
        #: Why the agent stopped on its own, if it did.
        self.error: Exception | None = None
        self.logs = LogShipping(runtime, client, self.stopping)
        self.ctx = AgentContext(runtime, client, logs=self.logs, volume_roots=volume_roots,
                                workspace_root=workspace_root)
        self.sampler = Sampler(gpus, runtime, client, sample_seconds)
        self.metrics_port = metrics_port  # None: no /metrics of our own; 0: any free port
        self.metrics_server: WSGIServer | None = None
        self._worker: _Worker | None = None
        self._threads: list[threading.Thread] = []
        self._beat_problem: str | None = None

    def start(self) -> None:
        """Register, then heartbeat and serve commands in background threads.

        Returns once the worker consumes its queue, or early if ``stopping`` is set
        meanwhile. Raises ``ControlPlaneError`` where registration fails for good.
        """
        self.registered = self._register()
        if self.registered is None:
            return
        registered = self.registered
        broker_url = self.broker_url or registered.broker_url
        app = make_celery(broker_url, registered.queue)
        register_tasks(app, self.ctx)
        self._worker = _Worker(
            app=app,
            hostname=f"dllab-agent@{registered.name}",
            queues=[registered.queue],
            pool=AppThreadPool,
            concurrency=self.concurrency,
            # One worker per host queue: nothing to sync with peers at startup, and the
            # control plane hears from us over HTTP, not through Celery events.
            without_mingle=True,
            without_gossip=True,
            without_heartbeat=True,
        )
        self._spawn(self._run_worker, "worker")
        self._spawn(self._heartbeat_loop, "heartbeat")
        self.sampler.host = registered.name
        self._spawn(lambda: self.sampler.run(self.stopping), "sampler")
        if self.metrics_port is not None:
            # On the address other hosts reach us by: where Prometheus scrapes from.
            self.metrics_server = serve_metrics(self.sampler, self.metrics_port, self.address)
        log.info(
            "agent registered as host %s (id %d); serving queue %s on %s",
            registered.name,
            registered.host_id,
            registered.queue,
            maybe_sanitize_url(broker_url),
        )
        while not self._worker.ready.wait(0.05):
            if self.stopping.is_set():
                return

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the agent is asked to stop; ``False`` if ``timeout`` ran out first."""
        return self.stopping.wait(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop serving commands (letting running ones finish), heartbeats and log shipping."""
        self.stopping.set()
        deadline = time.monotonic() + timeout
        if self._worker is not None:
            self._worker.stop()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.logs.join(max(0.0, deadline - time.monotonic()))
        self.client.close()
        log.info("agent stopped; its units keep running")

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=f"dllab-agent-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _fail(self, error: Exception) -> None:
        log.error("agent stopping: %s", error)
        self.error = error
        self.stopping.set()

    def _register(self) -> AgentRegistered | None:
        deadline = time.monotonic() + self.register_timeout
        delay = 1.0
        while True:
            units = self.runtime.list()
            message = AgentRegister(
                runtime=self.runtime.kind,
                address=self.address,
                version=__version__,
                gpus=self.gpus.read(),
                units=units,
            )
            try:
                registered = self.client.register(message)
            except ControlPlaneError as exc:
                left = deadline - time.monotonic()
                if not exc.retryable or left <= 0:
                    raise
                wait = min(delay, left)
                log.warning("%s; registering again in %.0f s", exc, wait)
                if self.stopping.wait(wait):
                    return None
                delay = min(delay * 2, 30.0)
                continue
            self.ctx.observe(units)
            return registered

    def _run_worker(self) -> None:
        assert self._worker is not None
        self._worker.start()
        if not self.stopping.is_set():
            self._fail(AgentFailed(f"the Celery worker ended (exit code {self._worker.exitcode})"))

    def _heartbeat_loop(self) -> None:
        assert self.registered is not None
        interval = self.heartbeat_seconds or self.registered.heartbeat_seconds
        while not self.stopping.wait(interval):
            self._beat()

    def _beat(self) -> None:
        try:
            listed_at = time.monotonic()
            units = self.runtime.list()
            self.ctx.observe(units, listed_at=listed_at)
            # An exit reaches the control plane after the unit's last lines, so that what
            # decides on it (a job's not-retryable patterns) reads them. Bounded: a slow
            # shipper only delays the report by a beat.
            ended = {u.unit_id for u in units if u.state == ObservedState.exited}
            if ended:
                self.logs.join(2.0, ended)
            self.client.heartbeat(AgentHeartbeat(gpus=self.gpus.read(), units=units))
            self.ctx.resend_unsent(skip={unit.unit_id for unit in units})
        except TokenRejected as exc:
            self._fail(exc)
            return
        except Exception as exc:  # the heartbeat thread must outlive any one failure
            problem = f"{type(exc).__name__}: {exc}"
            if problem != self._beat_problem:  # once per problem, not every few seconds
                unexpected = not isinstance(exc, ControlPlaneError)
                log.warning("heartbeat failed (%s); still trying", problem, exc_info=unexpected)
                self._beat_problem = problem
            return
        if self._beat_problem is not None:
            log.info("heartbeats get through again")
            self._beat_problem = None


def run_agent(
    server: str,
    token: str,
    runtime_kind: RuntimeKind | str | None,
    simulate_gpus: int | None,
    state_dir: Path | str,
    broker_url: str | None = None,
    address: str | None = None,
    heartbeat_seconds: float | None = None,
    concurrency: int = 4,
    stop_event: threading.Event | None = None,
    volume_roots: tuple[Path, ...] = (),
    workspace_root: Path | None = None,
    metrics_port: int | None = METRICS_PORT,
) -> None:
    """Run an agent in the foreground until SIGINT/SIGTERM (or ``stop_event`` is set).

    ``runtime_kind`` ``None``: docker where an engine answers, else process. Raises
    ``TokenRejected`` for a wrong or revoked token, another ``ControlPlaneError`` where
    registration fails for good, ``AgentFailed`` where the worker died: each message is
    meant for the user as it is.
    """
    kind = RuntimeKind(runtime_kind or ("docker" if docker_available() else "process"))
    state = Path(state_dir)
    runtime = make_runtime(kind, state)
    # The state dir tells apart agents simulated side by side on one machine.
    gpus = discover(simulate_gpus, f"{socket.gethostname()}:{state.resolve()}")
    agent = Agent(
        ControlPlaneClient(server, token),
        runtime,
        gpus,
        address=address or default_address(server),
        broker_url=broker_url,
        heartbeat_seconds=heartbeat_seconds,
        concurrency=concurrency,
        stop_event=stop_event,
        volume_roots=volume_roots,
        workspace_root=(workspace_root or state / "workspaces").resolve(),
        metrics_port=metrics_port,
    )
    restore = _on_signals(agent.stopping.set)
    try:
        log.info("agent starting: runtime %s, control plane %s", kind.value, server)
        agent.start()
        agent.wait()
    finally:
        agent.stop()
        restore()
    if agent.error is not None:
        raise agent.error


def _on_signals(handler: Callable[[], None]) -> Callable[[], None]:
    """Route SIGINT and SIGTERM to ``handler``; returns what puts the old handlers back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {
        sig: signal.signal(sig, lambda signum, frame: handler())
        for sig in (signal.SIGINT, signal.SIGTERM)
    }

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
