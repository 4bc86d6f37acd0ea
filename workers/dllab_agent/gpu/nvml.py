"""Real GPUs, read through NVML (the library behind ``nvidia-smi``).

Probing degrades, never crashes: a host without an NVIDIA driver gets ``None`` from
``probe`` and ``open``, logged once. Turning raw readings into ``GpuInfo`` is kept apart
from talking to NVML (``to_gpu_info``) so that tests feed it canned readings.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import pynvml

from dllab.protocol import GpuInfo

log = logging.getLogger(__name__)

MIB = 1024 * 1024


@dataclass(frozen=True)
class NvmlReading:
    """What NVML says of one device. Older bindings return ``bytes`` for strings."""

    index: int
    uuid: str | bytes
    name: str | bytes
    memory_total_bytes: int
    memory_used_bytes: int
    utilization_pct: int | None = None  # None: this device does not report it


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def to_gpu_info(reading: NvmlReading) -> GpuInfo:
    return GpuInfo(
        index=reading.index,
        uuid=_text(reading.uuid),
        model=_text(reading.name),
        memory_total_mib=reading.memory_total_bytes // MIB,
        memory_used_mib=reading.memory_used_bytes // MIB,
        utilization_pct=reading.utilization_pct,
    )


def read_devices() -> list[NvmlReading]:
    """Read every device; NVML must be initialised. Raises ``pynvml.NVMLError``."""
    readings = []
    for index in range(pynvml.nvmlDeviceGetCount()):
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
        readings.append(
            NvmlReading(
                index=index,
                uuid=pynvml.nvmlDeviceGetUUID(handle),
                name=pynvml.nvmlDeviceGetName(handle),
                memory_total_bytes=int(memory.total),
                memory_used_bytes=int(memory.used),
                utilization_pct=_utilization(handle),
            )
        )
    return readings


def _utilization(handle: object) -> int | None:
    """Percent of the last sample period a kernel ran (what nvidia-smi shows); some
    devices (MIG instances, older boards) do not report it."""
    try:
        return int(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
    except pynvml.NVMLError:
        return None


@functools.cache  # once per reason: the agent asks at start and `dllab up` asks too
def _log_unavailable(reason: str) -> None:
    log.info("NVML is not available (%s): no real GPUs on this host", reason)


def probe() -> list[GpuInfo] | None:
    """The host's GPUs, or ``None`` where NVML does not load (no driver, no library)."""
    source = NvmlGpus.open()
    if source is None:
        return None
    source.close()
    return source.last


class NvmlGpus:
    """A GPU source that keeps NVML initialised and reads it on every heartbeat."""

    def __init__(self, first: list[GpuInfo]) -> None:
        self.last = first

    @classmethod
    def open(cls) -> NvmlGpus | None:
        """Initialise NVML for the life of the agent; ``None`` where it does not load."""
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            _log_unavailable(str(exc))
            return None
        try:
            return cls([to_gpu_info(reading) for reading in read_devices()])
        except pynvml.NVMLError as exc:
            _log_unavailable(str(exc))
            pynvml.nvmlShutdown()
            return None

    def close(self) -> None:
        pynvml.nvmlShutdown()

    def read(self) -> list[GpuInfo]:
        try:
            self.last = [to_gpu_info(reading) for reading in read_devices()]
        except pynvml.NVMLError as exc:
            # A failed read (a GPU fallen off the bus, a driver reload) must not make the
            # control plane drop GPUs that units still hold: repeat the last inventory.
            log.warning("reading GPUs through NVML failed (%s); repeating the last reading", exc)
        return self.last
