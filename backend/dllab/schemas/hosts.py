from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from dllab.protocol import GpuInfo, RuntimeKind
from dllab.schemas.common import Input, Name


class HostStatus(StrEnum):
    new = "new"  # added; its agent has not registered yet
    online = "online"  # heard from within the offline limit
    offline = "offline"  # silent for longer than the offline limit


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
