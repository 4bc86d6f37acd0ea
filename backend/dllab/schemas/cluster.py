from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from dllab.db.models import HostStatus
from dllab.protocol import RuntimeKind


class QueueEntry(BaseModel):
    position: int | None = Field(description="1: the next to be placed; None until a pass "
                                             "has looked at it")
    workload: str
    kind: str
    name: str
    owner: str
    priority: int
    gpus: int = Field(description="GPUs its units ask for, together")
    units: list[str] = Field(description="ids of its queued units")
    submitted_at: datetime
    reason: str | None = Field(description="why it waits, in words")
    reserved_hosts: list[str] = Field(
        description="hosts held for it as the queue's head: smaller work behind it may use "
                    "only what it does not need there")


class Holder(BaseModel):
    unit: str
    unit_name: str
    workload: str
    kind: str
    owner: str
    state: str
    visible_index: int = Field(description="the index the unit sees this GPU as")


class ClusterGpu(BaseModel):
    index: int = Field(description="physical index on the host")
    uuid: str
    model: str
    simulated: bool
    held_by: Holder | None = Field(description="None: free")


class ClusterHost(BaseModel):
    name: str
    status: HostStatus
    runtime: RuntimeKind | None
    gpus: list[ClusterGpu]
    reserved_for: str | None = Field(description="the queue head's workload, if it holds "
                                                 "this host")


class ClusterPublic(BaseModel):
    hosts: list[ClusterHost] = Field(description="one page of hosts, by name")
    count: int = Field(description="all hosts")
    gpus: int = Field(description="GPUs of all online hosts")
    gpus_free: int = Field(description="of those, held by no unit")
    queued: int = Field(description="workloads waiting in the queue")
