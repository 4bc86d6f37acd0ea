"""Simulated GPUs for hosts without an NVIDIA driver (``--simulate-gpus N``).

Everything above the readings is the real code path: inventory, allocation, remapping.
Each GPU is marked ``simulated`` so that every API answer and page can say so.
"""

from __future__ import annotations

import hashlib

from dllab.protocol import GpuInfo

MODEL = "DLLab Simulated GPU"
MEMORY_MIB = 16384


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

    def read(self) -> list[GpuInfo]:
        return list(self._gpus)
