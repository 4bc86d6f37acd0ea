"""The latest GPU readings of every host, kept in the control plane's memory.

Agents post a sample every second; the book keeps the last one of each host for what reads
"now" (``/metrics``, the live GPU grid, alert rules) and, per workload, when its GPUs last
worked (the idle-GPU policy). History goes to the database (services/gpu_metrics.py).
Restarting the control plane empties it; agents fill it again within a second.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from dllab.protocol import GpuSample

BUSY_PCT = 5  # a GPU below this utilization counts as idle
# A host's last sample counts as "now" this long after it came (agents send one a second);
# older, its GPUs are not shown as now nor judged by alert rules (their alerts stay).
FRESH_SECONDS = 5.0


@dataclass(frozen=True)
class HostSamples:
    host_id: int
    host: str
    taken_at: float  # epoch seconds, the agent's clock
    received_at: float  # epoch seconds, ours: what freshness is judged by
    gpus: list[GpuSample]


class GpuBook:
    def __init__(self) -> None:
        self._hosts: dict[int, HostSamples] = {}
        # workload id -> (first seen holding a GPU, last seen with a GPU at work), epoch s
        self._workloads: dict[str, tuple[float, float | None]] = {}
        self._lock = threading.Lock()

    def put(self, host_id: int, host: str, taken_at: float, gpus: list[GpuSample],
            now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._lock:
            self._hosts[host_id] = HostSamples(host_id, host, taken_at, now, gpus)
            for gpu in gpus:
                if gpu.holder is None or gpu.holder.workload is None:
                    continue
                first, busy = self._workloads.get(gpu.holder.workload, (now, None))
                if (gpu.utilization_pct or 0) >= BUSY_PCT:
                    busy = now
                self._workloads[gpu.holder.workload] = (first, busy)

    def latest(self, max_age: float, now: float | None = None) -> list[HostSamples]:
        """Each host's last sample, if it came within ``max_age`` seconds; by host name."""
        now = time.time() if now is None else now
        with self._lock:
            fresh = [s for s in self._hosts.values() if now - s.received_at <= max_age]
        return sorted(fresh, key=lambda s: s.host)

    def forget_workloads(self, keep: set[str]) -> None:
        """Drop what is known of workloads not in ``keep`` (those that ended)."""
        with self._lock:
            for workload_id in set(self._workloads) - keep:
                del self._workloads[workload_id]

    def idle_since(self, workload_id: str) -> float | None:
        """Since when the workload's GPUs have all been idle, as far as this process has
        seen (epoch seconds); None where none of its GPUs has reported yet."""
        with self._lock:
            seen = self._workloads.get(workload_id)
        if seen is None:
            return None
        first, busy = seen
        return busy if busy is not None else first
