"""GPU readings as Prometheus metrics, under the names NVIDIA's DCGM exporter uses.

Agents (``:9402/metrics``) and the control plane (``/metrics``, every host) both expose
them, so that dashboards and alerts written for ``dcgm-exporter`` work unchanged. Besides
DCGM's labels (``gpu``, ``UUID``, ``device``, ``modelName``, ``Hostname``) each series
carries DLLab's: who holds the GPU (``dllab_unit``, ``dllab_workload``, ``dllab_kind``,
``dllab_owner``) and the index that unit sees it as (``dllab_visible_gpu``). This module is
shared by the agent and the control plane, like ``dllab.protocol``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from dllab.protocol import GpuSample

# (metric name, help, how to read it from a sample); a sample without the reading (a GPU
# without ECC, say) has no series for it.
_METRICS = (
    ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", lambda g: g.utilization_pct),
    ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", lambda g: g.memory_used_mib),
    ("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).",
     lambda g: max(0, g.memory_total_mib - g.memory_used_mib)),
    ("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", lambda g: g.temperature_c),
    ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", lambda g: g.power_w),
    ("DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz).", lambda g: g.sm_clock_mhz),
    ("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "Total number of double-bit volatile ECC errors.",
     lambda g: g.ecc_uncorrected),
    ("DCGM_FI_DEV_XID_ERRORS", "Value of the last XID error encountered.",
     lambda g: g.xid_last),
)

LABELS = ("gpu", "UUID", "device", "modelName", "Hostname", "dllab_simulated", "dllab_unit",
          "dllab_workload", "dllab_kind", "dllab_owner", "dllab_visible_gpu")

NAMES = tuple(name for name, _, _ in _METRICS)

Latest = Callable[[], list[tuple[str, list[GpuSample]]]]


def _labels(host: str, gpu: GpuSample) -> list[str]:
    holder = gpu.holder
    return [str(gpu.index), gpu.uuid, f"nvidia{gpu.index}", gpu.model, host,
            "true" if gpu.simulated else "false",
            holder.unit if holder else "", (holder.workload or "") if holder else "",
            (holder.kind or "") if holder else "", (holder.owner or "") if holder else "",
            str(holder.visible_index) if holder else ""]


def families(hosts: Iterable[tuple[str, list[GpuSample]]]) -> Iterator[GaugeMetricFamily]:
    """One gauge family per DCGM metric, a series per GPU of every ``(host, samples)``."""
    hosts = list(hosts)
    for name, help_text, read in _METRICS:
        family = GaugeMetricFamily(name, help_text, labels=LABELS)
        for host, gpus in hosts:
            for gpu in gpus:
                value = read(gpu)
                if value is not None:
                    family.add_metric(_labels(host, gpu), float(value))
        yield family


class GpuCollector(Collector):
    """A prometheus_client collector over whatever ``latest()`` returns at scrape time."""

    def __init__(self, latest: Latest) -> None:
        self._latest = latest

    def collect(self) -> Iterator[GaugeMetricFamily]:
        return families(self._latest())


def registry(latest: Latest) -> CollectorRegistry:
    """A registry holding only the GPU metrics (no process metrics of whoever serves it)."""
    found = CollectorRegistry(auto_describe=False)
    found.register(GpuCollector(latest))
    return found
