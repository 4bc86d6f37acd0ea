from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dllab.db.models.base import Base, UTCDateTime, utcnow
from dllab.protocol import UnitState


class Unit(Base):
    """One container or process on one host: what the scheduler places and agents run."""

    __tablename__ = "units"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid4 hex
    name: Mapped[str] = mapped_column(String(63))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="unit")
    workload_id: Mapped[str] = mapped_column(
        ForeignKey("workloads.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    index: Mapped[int] = mapped_column(Integer, default=0)  # its place in the workload's gang
    gpu_count: Mapped[int] = mapped_column(Integer, default=0)  # GPUs asked for
    host_id: Mapped[int | None] = mapped_column(
        ForeignKey("hosts.id", ondelete="SET NULL"), index=True, default=None
    )
    gpus: Mapped[list[int]] = mapped_column(JSON, default=list)  # physical indices, once placed
    # The protocol.UnitSpec sent; while queued, the same without host, GPUs and image default.
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default=UnitState.queued, index=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    runtime_id: Mapped[str | None] = mapped_column(String(128), default=None)
    ports: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    log_lines: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    placed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)  # host given
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
