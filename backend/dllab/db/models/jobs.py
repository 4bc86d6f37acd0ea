from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dllab.db.models.base import Base, UTCDateTime, utcnow


class JobOutcome(StrEnum):
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class Job(Base):
    """A distributed training job: one workload, a unit per replica. While it runs its
    status is read from the units of the workload's current attempt; once it ends, from
    ``outcome``. Each gang restart is one entry of ``restarts``."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid4 hex; artifacts dir
    name: Mapped[str] = mapped_column(String(63))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    workload_id: Mapped[str] = mapped_column(ForeignKey("workloads.id", ondelete="CASCADE"))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)  # the JobCreate it was submitted with
    outcome: Mapped[str | None] = mapped_column(String(16), default=None, index=True)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    # [{"attempt", "reason", "resumed_from_step", "at"}]: one per gang restart
    restarts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Its TensorBoard, started on demand (a workload of its own: it outlives the job), and
    # when a browser last used it (the idle culler stops it).
    tensorboard_workload_id: Mapped[str | None] = mapped_column(
        ForeignKey("workloads.id", ondelete="SET NULL"), default=None)
    tensorboard_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
