"""The GPU sampler: every second, read each GPU, say which unit holds it, keep the sample
for this agent's ``/metrics`` and send it to the control plane.

Attribution comes from the runtime (``holdings``: the running units with a ``dllab.gpus``
label), so it holds for units started before the agent restarted. Simulated GPUs are driven
by those units' CPU use (``usage``) before each read; real ones are read through NVML.
"""

from __future__ import annotations

import logging
import threading
import time
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

from dllab import dcgm
from dllab.protocol import (
    LABEL_KIND,
    LABEL_OWNER,
    LABEL_WORKLOAD,
    GpuHolder,
    GpuSample,
    MetricsReport,
)
from dllab_agent.client import ControlPlaneClient, ControlPlaneError
from dllab_agent.gpu import GpuSource, SimulatedGpus
from dllab_agent.gpu.simulated import UnitLoad
from dllab_agent.runtime.base import Holding, Runtime

log = logging.getLogger("dllab_agent")

METRICS_PORT = 9402  # dcgm-exporter's 9400 stays free for it, where it runs beside us


def holders(holdings: list[Holding]) -> dict[int, GpuHolder]:
    """Physical GPU index -> the unit holding it, as its labels say."""
    found = {}
    for holding in holdings:
        for visible, index in enumerate(holding.gpus):
            found[index] = GpuHolder(
                unit=holding.unit_id, workload=holding.labels.get(LABEL_WORKLOAD),
                kind=holding.labels.get(LABEL_KIND), owner=holding.labels.get(LABEL_OWNER),
                visible_index=visible)
    return found


class Sampler:
    def __init__(self, gpus: GpuSource, runtime: Runtime, client: ControlPlaneClient | None,
                 seconds: float = 1.0) -> None:
        self.gpus = gpus
        self.runtime = runtime
        self.client = client  # None: sample for /metrics only
        self.seconds = seconds
        self.host = "unregistered"  # the name the control plane gave us, for /metrics
        self._latest: list[GpuSample] = []
        self._cpu: dict[str, tuple[float, float]] = {}  # unit -> (CPU seconds, when read)
        self._problem: str | None = None

    def latest(self) -> list[tuple[str, list[GpuSample]]]:
        return [(self.host, self._latest)]

    def sample(self) -> MetricsReport:
        holdings = self.runtime.holdings()
        if isinstance(self.gpus, SimulatedGpus):
            self.gpus.drive(self._loads(holdings))
        held = holders(holdings)
        taken_at = time.time()
        samples = [GpuSample(**gpu.model_dump(), holder=held.get(gpu.index))
                   for gpu in self.gpus.read()]
        self._latest = samples
        return MetricsReport(taken_at=taken_at, gpus=samples)

    def _loads(self, holdings: list[Holding]) -> list[UnitLoad]:
        loads, seen = [], {}
        for holding in holdings:
            usage = self.runtime.usage(holding)
            if usage is None:
                continue
            now = time.monotonic()
            before = self._cpu.get(holding.unit_id)
            seen[holding.unit_id] = (usage.cpu_seconds, now)
            cores = 0.0 if before is None or now <= before[1] else \
                max(0.0, usage.cpu_seconds - before[0]) / (now - before[1])
            loads.append(UnitLoad(gpus=holding.gpus, cores=cores, memory_mib=usage.memory_mib))
        self._cpu = seen
        return loads

    def run(self, stopping: threading.Event) -> None:
        """Sample and send until ``stopping`` is set; a failure is logged once, not fatal."""
        next_at = time.monotonic()
        while not stopping.is_set():
            try:
                report = self.sample()
                if self.client is not None and report.gpus:  # a host without GPUs: nothing
                    self.client.send_metrics(report)
            except Exception as exc:  # the sampler must outlive any one failure
                problem = f"{type(exc).__name__}: {exc}"
                if problem != self._problem:
                    log.warning("GPU sampling failed (%s); still trying", problem,
                                exc_info=not isinstance(exc, ControlPlaneError))
                    self._problem = problem
            else:
                if self._problem is not None:
                    log.info("GPU samples get through again")
                    self._problem = None
            next_at = max(next_at + self.seconds, time.monotonic())  # no catching up
            stopping.wait(next_at - time.monotonic())


def serve_metrics(sampler: Sampler, port: int, address: str) -> WSGIServer | None:
    """This host's GPUs in Prometheus text on ``http://ADDRESS:PORT/metrics`` (port 0: any
    free one; read it from the server). None where the port cannot be had: sampling and
    the control plane's ``/metrics`` go on without it."""
    try:
        server, _ = start_http_server(port, address, registry=dcgm.registry(sampler.latest))
    except OSError as exc:
        log.warning("GPU metrics not served on port %d: %s", port, exc)
        return None
    log.info("GPU metrics on http://%s:%d/metrics", address, server.server_port)
    return server
