"""Real GPUs, read through NVML (the library behind ``nvidia-smi``).

Probing degrades, never crashes: a host without an NVIDIA driver gets ``None`` from
``probe`` and ``open``, logged once. Turning raw readings into ``GpuInfo`` is kept apart
from talking to NVML (``to_gpu_info``) so that tests feed it canned readings.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
    # None where the device does not report it (MIG instances, consumer boards, no ECC)
    utilization_pct: int | None = None
    temperature_c: int | None = None
    power_mw: int | None = None
    sm_clock_mhz: int | None = None
    ecc_uncorrected: int | None = None  # since the driver loaded (volatile)
    xid_last: int | None = None  # the last XID error event seen since the agent started


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
        temperature_c=reading.temperature_c,
        power_w=None if reading.power_mw is None else reading.power_mw / 1000,
        sm_clock_mhz=reading.sm_clock_mhz,
        ecc_uncorrected=reading.ecc_uncorrected,
        xid_last=reading.xid_last,
    )


def read_devices(xids: dict[int, int] | None = None) -> list[NvmlReading]:
    """Read every device; NVML must be initialised. Raises ``pynvml.NVMLError`` when the
    devices cannot be listed; a reading a device does not offer is None. ``xids``: the
    last XID error of each device index, from ``XidEvents``."""
    return [_read(index, pynvml.nvmlDeviceGetHandleByIndex(index), (xids or {}).get(index))
            for index in range(pynvml.nvmlDeviceGetCount())]


def _read(index: int, handle: object, xid: int | None) -> NvmlReading:
    memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
    rates = _optional(pynvml.nvmlDeviceGetUtilizationRates, handle)
    return NvmlReading(
        index=index,
        uuid=pynvml.nvmlDeviceGetUUID(handle),
        name=pynvml.nvmlDeviceGetName(handle),
        memory_total_bytes=int(memory.total),
        memory_used_bytes=int(memory.used),
        # the percent of the last sample period a kernel ran, as nvidia-smi shows it
        utilization_pct=None if rates is None else int(rates.gpu),
        temperature_c=_optional(pynvml.nvmlDeviceGetTemperature, handle,
                                pynvml.NVML_TEMPERATURE_GPU),
        power_mw=_optional(pynvml.nvmlDeviceGetPowerUsage, handle),
        sm_clock_mhz=_optional(pynvml.nvmlDeviceGetClockInfo, handle, pynvml.NVML_CLOCK_SM),
        ecc_uncorrected=_optional(pynvml.nvmlDeviceGetTotalEccErrors, handle,
                                  pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
                                  pynvml.NVML_VOLATILE_ECC),
        xid_last=xid,
    )


def _optional(read: Callable[..., Any], *args: object) -> Any:
    try:
        return read(*args)
    except pynvml.NVMLError:
        return None


class XidEvents:
    """XID errors (the driver's reports of faults: a GPU fallen off the bus, ECC page
    retirement, a kernel killed) arrive as NVML events, not as readings: each read takes
    the ones pending without waiting and keeps each device's last."""

    def __init__(self) -> None:
        self.last: dict[int, int] = {}
        self._indices: dict[str, int] = {}
        try:
            self._events = pynvml.nvmlEventSetCreate()
        except pynvml.NVMLError as exc:
            log.info("NVML events are not available (%s): XID errors are not watched", exc)
            self._events = None
            return
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            try:
                pynvml.nvmlDeviceRegisterEvents(handle, pynvml.nvmlEventTypeXidCriticalError,
                                                self._events)
                self._indices[_text(pynvml.nvmlDeviceGetUUID(handle))] = index
            except pynvml.NVMLError:
                continue  # this device does not report them (a MIG slice, some boards)

    def poll(self) -> dict[int, int]:
        while self._events is not None:
            try:
                event = pynvml.nvmlEventSetWait_v2(self._events, 0)
            except pynvml.NVMLError:  # a timeout: nothing pending
                break
            index = self._indices.get(_text(pynvml.nvmlDeviceGetUUID(event.device)))
            if index is not None:
                self.last[index] = int(event.eventData)
        return self.last

    def close(self) -> None:
        if self._events is not None:
            pynvml.nvmlEventSetFree(self._events)


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

    def __init__(self, first: list[GpuInfo], xids: XidEvents) -> None:
        self.last, self.xids = first, xids

    @classmethod
    def open(cls) -> NvmlGpus | None:
        """Initialise NVML for the life of the agent; ``None`` where it does not load."""
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            _log_unavailable(str(exc))
            return None
        try:
            return cls([to_gpu_info(reading) for reading in read_devices()], XidEvents())
        except pynvml.NVMLError as exc:
            _log_unavailable(str(exc))
            pynvml.nvmlShutdown()
            return None

    def close(self) -> None:
        self.xids.close()
        pynvml.nvmlShutdown()

    def read(self) -> list[GpuInfo]:
        try:
            self.last = [to_gpu_info(reading) for reading in read_devices(self.xids.poll())]
        except pynvml.NVMLError as exc:
            # A failed read (a GPU fallen off the bus, a driver reload) must not make the
            # control plane drop GPUs that units still hold: repeat the last inventory.
            log.warning("reading GPUs through NVML failed (%s); repeating the last reading", exc)
        return self.last
