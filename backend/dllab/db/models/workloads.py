from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dllab.db.models.base import Base, UTCDateTime, utcnow


class LostPolicy(StrEnum):
    """What becomes of a workload when one of its units is lost (its host forgot it, died
    or was removed)."""

    fail = "fail"  # stop the other units; the workload has failed
    restart = "restart"  # stop the other units and queue all of them again, as a new attempt


class Workload(Base):
    """What the scheduler places as one: every unit of one environment, job or service
    replica set (or one bare unit) gets a host at once, or none does. Its units are those of
    ``attempt``; a restart queues copies of them as the next attempt."""

    __tablename__ = "workloads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid4 hex
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(63))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    policy: Mapped[str] = mapped_column(String(16), default="pack")  # scheduler.Policy
    on_lost: Mapped[str] = mapped_column(String(16), default=LostPolicy.fail)
    max_restarts: Mapped[int] = mapped_column(Integer, default=0)
    restarts: Mapped[int] = mapped_column(Integer, default=0)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    # Written by each scheduling pass while the workload waits; None once it is placed.
    position: Mapped[int | None] = mapped_column(Integer, default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    # While it heads the queue: the hosts held for it, one per unit, comma-separated. Kept
    # from one pass to the next so that the head's bound on waiting survives restarts.
    reserved_on: Mapped[str | None] = mapped_column(Text, default=None)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
