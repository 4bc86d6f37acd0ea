from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from dllab.db.models.base import Base, UTCDateTime, utcnow


class HostStatus(StrEnum):
    new = "new"  # added; its agent has not registered yet
    online = "online"  # heard from within the offline limit
    offline = "offline"  # silent for longer than the offline limit


class Host(Base):
    """A GPU host. Its agent authenticates with the host token (only its hash is kept)."""

    __tablename__ = "hosts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    runtime: Mapped[str | None] = mapped_column(String(16), default=None)
    address: Mapped[str | None] = mapped_column(String(255), default=None)
    agent_version: Mapped[str | None] = mapped_column(String(64), default=None)
    # The GPU inventory as last reported: a list of protocol.GpuInfo dicts. Replaced whole
    # on each heartbeat; allocations live on units, not here.
    gpus: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    def status(self, now: datetime, offline_seconds: float) -> HostStatus:
        if self.last_seen_at is None:
            return HostStatus.new
        silent = (now - self.last_seen_at).total_seconds()
        return HostStatus.online if silent < offline_seconds else HostStatus.offline
