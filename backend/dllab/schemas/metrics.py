from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from dllab.protocol import GpuSample
from dllab.schemas.common import Input


class GpuPoint(BaseModel):
    at: datetime = Field(description="start of the step it averages")
    utilization_pct: float | None
    memory_used_mib: float | None
    memory_total_mib: int
    temperature_c: float | None
    power_w: float | None
    sm_clock_mhz: float | None


class GpuSeries(BaseModel):
    host: str
    gpu: int = Field(description="physical index on the host")
    points: list[GpuPoint] = Field(description="one per step that has readings, oldest first")


class GpuHistory(BaseModel):
    from_: datetime = Field(alias="from")
    to: datetime
    step: int = Field(description="seconds each point averages")
    series: list[GpuSeries]

    model_config = {"populate_by_name": True}


class HostGpusNow(BaseModel):
    host: str
    taken_at: datetime = Field(description="when its agent read them")
    gpus: list[GpuSample]


class GpusNow(BaseModel):
    hosts: list[HostGpusNow] = Field(description="hosts that reported in the last few seconds")


class ReclaimPolicy(Input):
    enabled: bool = Field(default=False, description="stop environments whose GPUs stay idle")
    idle_seconds: float = Field(default=3600, gt=0, le=30 * 86400, description=(
        "how long every GPU of an environment must stay under 5% utilization"))
    warn_seconds: float = Field(default=600, ge=0, le=30 * 86400, description=(
        "how long before stopping it the owner is warned (on the environment and its page)"))


class ReclaimPublic(BaseModel):
    environment: str
    environment_name: str
    owner: str
    gpus: int
    idle_seconds: float
    reclaimed_at: datetime
    resumed_at: datetime | None
    gpu_hours: float = Field(description="GPUs x hours from reclaim until started again (or now)")


class Reclaims(BaseModel):
    data: list[ReclaimPublic]
    count: int
    gpu_hours_reclaimed: float = Field(description="over every reclaim the caller may see")

