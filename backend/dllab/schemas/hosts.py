from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from dllab.db.models import HostStatus
from dllab.protocol import GpuInfo, RuntimeKind
from dllab.schemas.common import Input, Name


class HostCreate(Input):
    name: Name


class HostPublic(BaseModel):
    id: int
    name: str
    status: HostStatus
    runtime: RuntimeKind | None
    address: str | None
    agent_version: str | None
    gpus: list[GpuInfo]
    created_at: datetime
    last_seen_at: datetime | None


class HostCreated(HostPublic):
    token: str
    agent_command: str
