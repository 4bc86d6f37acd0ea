from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from dllab.db.models import LostPolicy
from dllab.protocol import Port, UnitState
from dllab.schemas.common import Input, Name

Arg = Annotated[str, StringConstraints(max_length=4096)]
EnvName = Annotated[str, StringConstraints(min_length=1, max_length=128,
                                           pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class UnitCreate(Input):
    name: Name
    image: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = Field(
        default=None, description="container image (docker hosts); ignored by process hosts"
    )
    command: list[Arg] = Field(min_length=1, max_length=256)
    env: dict[EnvName, Annotated[str, StringConstraints(max_length=8192)]] = Field(
        default_factory=dict, max_length=256
    )
    gpus: int = Field(default=0, ge=0, le=64)
    cpus: float | None = Field(default=None, gt=0, le=1024)
    memory_mib: int | None = Field(default=None, ge=16, le=16 * 1024 * 1024)
    ports: list[Port] = Field(default_factory=list, max_length=16)
    priority: int = Field(default=0, ge=-100, le=100, description=(
        "higher goes first in the queue; above 0 for admins only"))
    # Not strict: JSON has no enums, so the policy arrives as a string.
    on_lost: Annotated[LostPolicy, Field(strict=False, description=(
        "when its host no longer runs it (the agent lost it, the host was declared dead or "
        "removed): fail, or queue it again"))] = LostPolicy.fail
    max_restarts: int = Field(default=3, ge=0, le=100,
                              description="how often on_lost=restart queues it again")


class UnitGpu(BaseModel):
    index: int = Field(description="physical index on the host")
    uuid: str | None
    visible_index: int = Field(description="the index the unit sees (0..n-1)")
    simulated: bool


class UnitPublic(BaseModel):
    id: str
    name: str
    kind: str
    owner: str
    workload: str = Field(description="the workload it belongs to (scheduled as one)")
    attempt: int = Field(description="1, then one more each time its workload is restarted")
    priority: int
    state: UnitState
    position: int | None = Field(description="while queued: its place in the queue (1: next)")
    reason: str | None = Field(description="while queued: why it waits, in words")
    host: str | None
    gpu_count: int = Field(description="GPUs asked for")
    gpus: list[UnitGpu] = Field(description="once placed: the physical GPUs it holds")
    image: str | None
    command: list[str]
    ports: dict[str, int]
    exit_code: int | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
