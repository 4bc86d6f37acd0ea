"""How alert rules judge readings: the metrics a rule may watch, a metric's value in a GPU
sample, the comparison, the words of an alert's message, and ``Pending``, which remembers
since when each condition has held. No database, no I/O: ``services/alerts.py`` feeds it.

A rule watches one metric of every GPU in its scope (or, for ``host_silent_seconds``, of
every host) and fires once ``value op threshold`` has held for ``duration_seconds``, as
seen by this process: a restart of the control plane starts every duration again.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from dllab.protocol import GpuSample


class Metric(StrEnum):
    gpu_util = "gpu_util"  # percent of the time a kernel ran lately
    memory_used_pct = "memory_used_pct"  # memory used, percent of the GPU's total
    temperature_c = "temperature_c"  # degrees Celsius
    power_w = "power_w"  # watts drawn
    sm_clock_mhz = "sm_clock_mhz"  # SM clock, MHz
    ecc_errors = "ecc_errors"  # uncorrected ECC errors since the driver loaded
    xid_errors = "xid_errors"  # the last XID error the driver reported (0: none)
    host_silent_seconds = "host_silent_seconds"  # since the host was last heard from

    @property
    def per_host(self) -> bool:
        """A metric of the host as a whole, judged from when it was last heard from."""
        return self is Metric.host_silent_seconds


def gpu_value(metric: Metric, gpu: GpuSample) -> float | None:
    """``metric``'s value in ``gpu``'s sample; None where the GPU lacks the reading (such
    a GPU is not judged) or the metric is not a GPU's."""
    match metric:
        case Metric.gpu_util:
            return _number(gpu.utilization_pct)
        case Metric.memory_used_pct:
            if gpu.memory_total_mib <= 0:
                return None
            return gpu.memory_used_mib / gpu.memory_total_mib * 100
        case Metric.temperature_c:
            return _number(gpu.temperature_c)
        case Metric.power_w:
            return _number(gpu.power_w)
        case Metric.sm_clock_mhz:
            return _number(gpu.sm_clock_mhz)
        case Metric.ecc_errors:
            return _number(gpu.ecc_uncorrected)
        case Metric.xid_errors:
            return float(gpu.xid_last or 0)  # None: no XID since the agent started
    return None


def breaches(op: str, value: float, threshold: float) -> bool:
    """Whether ``value op threshold`` holds (``op`` is ``>`` or ``<``)."""
    if op == ">":
        return value > threshold
    if op == "<":
        return value < threshold
    raise ValueError(f"unknown comparison {op!r}")


def reading(metric: Metric, value: float) -> str:
    """A value in words: ``91 °C``, ``2% utilization``, ``XID 79``."""
    return {
        Metric.gpu_util: f"{_show(value)}% utilization",
        Metric.memory_used_pct: f"{_show(value)}% memory used",
        Metric.temperature_c: f"{_show(value)} °C",
        Metric.power_w: f"{_show(value)} W",
        Metric.sm_clock_mhz: f"{_show(value)} MHz SM clock",
        Metric.ecc_errors: f"{_show(value)} uncorrected ECC errors",
        Metric.xid_errors: f"XID {_show(value)}",
        Metric.host_silent_seconds: f"silent for {value:.0f} s",
    }[metric]


def message(metric: Metric, op: str, threshold: float, value: float, host: str,
            gpu: int | None, held_seconds: float, owner: str | None = None) -> str:
    """An alert in words: ``GPU 0 of gpu-1 at 91 °C for 60 s (over 85)``."""
    bound = f"({'over' if op == '>' else 'under'} {_show(threshold)})"
    if metric.per_host:
        return f"{host} {reading(metric, value)} {bound}"
    subject = f"GPU {gpu} of {host}" + (f" (held by {owner})" if owner else "")
    if metric is Metric.ecc_errors:
        return f"{subject} has {reading(metric, value)} {bound}"
    if metric is Metric.xid_errors:
        return f"{subject} reported {reading(metric, value)} {bound}"
    lasting = f" for {held_seconds:.0f} s" if held_seconds >= 1 else ""
    return f"{subject} at {reading(metric, value)}{lasting} {bound}"


Key = tuple[int, str, int | None]  # rule id, host name, GPU index (None: the host)


class Pending:
    """Since when each condition has held, by (rule id, host, GPU), in epoch seconds.

    ``observe`` is told each round whether a condition holds; one that stops holding, or
    that is not judged in a round (its host silent, its GPU out of the rule's scope), starts
    again from nothing: a duration counts only readings seen one after another. ``subject``
    (the workload holding the GPU, say) restarts it too when it changes. Not thread-safe:
    one evaluating loop owns it.
    """

    def __init__(self) -> None:
        self._since: dict[Key, tuple[float, str | None]] = {}

    def observe(self, key: Key, holds: bool, now: float, subject: str | None = None) -> float:
        """How long the condition has held (0 when it does not, or has just started to)."""
        if not holds:
            self._since.pop(key, None)
            return 0.0
        since, seen = self._since.get(key, (now, subject))
        if seen != subject:
            since = now
        self._since[key] = (since, subject)
        return max(0.0, now - since)

    def since(self, key: Key) -> float | None:
        held = self._since.get(key)
        return held[0] if held else None

    def keep_only(self, keys: Iterable[Key]) -> None:
        """Forget every condition but those judged in this round."""
        keep = set(keys)
        for key in [k for k in self._since if k not in keep]:
            del self._since[key]

    def __len__(self) -> int:
        return len(self._since)


def _number(value: float | int | None) -> float | None:
    return None if value is None else float(value)


def _show(value: float) -> str:
    """A number as people write it: 85, 91.5, 97.7, 0.25."""
    if not 1 <= abs(value) < 1e15:
        return f"{value:.2g}"
    return f"{value:.1f}".removesuffix(".0")
