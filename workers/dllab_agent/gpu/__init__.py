"""Where an agent's GPU inventory comes from: NVML, a simulator, or nothing.

A ``GpuSource`` is read on every heartbeat.
"""

from __future__ import annotations

from typing import Protocol

from dllab.protocol import GpuInfo
from dllab_agent.gpu import nvml
from dllab_agent.gpu.simulated import SimulatedGpus


class GpuSource(Protocol):
    def read(self) -> list[GpuInfo]: ...


class NoGpus:
    """A host where NVML does not load and no simulation was asked for."""

    def read(self) -> list[GpuInfo]:
        return []


def nvml_available() -> bool:
    """Whether real GPUs can be read here; ``dllab up`` simulates 4 GPUs where not."""
    return nvml.probe() is not None


def discover(simulate: int | None, host_name: str) -> GpuSource:
    """``simulate`` GPUs when given (even where NVML loads), else NVML, else none."""
    if simulate is not None:
        return SimulatedGpus(simulate, host_name)
    return nvml.NvmlGpus.open() or NoGpus()


__all__ = ["GpuSource", "NoGpus", "SimulatedGpus", "discover", "nvml_available"]
