"""Simulated GPUs for hosts without an NVIDIA driver (``--simulate-gpus N``).

Everything above the readings is the real code path: inventory, allocation, remapping,
sampling, attribution. Each GPU is marked ``simulated`` so that every API answer and page
can say so. The readings follow the units that hold the GPUs (``drive``): a unit that keeps
one CPU core busy per GPU reads as 100% utilization, and its memory as the GPU's beyond a
CUDA context's worth; temperature, power and clock follow utilization as a real card's do.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from dllab.protocol import GpuInfo

MODEL = "DLLab Simulated GPU"
MEMORY_MIB = 16384
CONTEXT_MIB = 300  # what a CUDA context takes on a GPU before any tensor


@dataclass(frozen=True)
class UnitLoad:
    gpus: tuple[int, ...]
    cores: float  # CPU cores the unit kept busy lately
    memory_mib: float  # what it holds in memory now


def simulated_uuid(host_name: str, index: int) -> str:
    """A UUID shaped like NVML's (``GPU-8-4-4-4-12`` hex digits), stable for a host.

    The first four groups come from a hash of the host name, the last one is the index,
    so that the GPUs of one host read as a family.
    """
    digest = hashlib.sha256(host_name.encode()).hexdigest()
    return f"GPU-{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{index:012x}"


class SimulatedGpus:
    def __init__(self, count: int, host_name: str) -> None:
        if count < 0:
            raise ValueError(f"a host cannot have {count} GPUs")
        self._load: dict[int, tuple[int, int]] = {}  # index -> (utilization %, memory MiB)
        self._gpus = [
            GpuInfo(
                index=index,
                uuid=simulated_uuid(host_name, index),
                model=MODEL,
                memory_total_mib=MEMORY_MIB,
                memory_used_mib=0,
                simulated=True,
            )
            for index in range(count)
        ]

    def drive(self, loads: list[UnitLoad]) -> None:
        """Readings from now on follow ``loads``: the units holding GPUs. Others idle."""
        load = {}
        for unit in loads:
            utilization = min(100, round(100 * unit.cores / len(unit.gpus)))
            memory = min(MEMORY_MIB, round(CONTEXT_MIB + unit.memory_mib / len(unit.gpus)))
            load.update({index: (utilization, memory) for index in unit.gpus})
        self._load = load

    def read(self) -> list[GpuInfo]:
        return [self._reading(gpu) for gpu in self._gpus]

    def _reading(self, gpu: GpuInfo) -> GpuInfo:
        utilization, memory = self._load.get(gpu.index, (0, 0))
        return gpu.model_copy(update={
            "utilization_pct": utilization, "memory_used_mib": memory,
            "temperature_c": 32 + utilization // 2, "power_w": round(25 + 2.75 * utilization, 1),
            "sm_clock_mhz": 210 + 12 * utilization, "ecc_uncorrected": 0})
