from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dllab.db.models.base import Base, UTCDateTime, utcnow


class Desired(StrEnum):
    running = "running"
    stopped = "stopped"


class Environment(Base):
    """A user's dev environment: one JupyterHub named server, run as one unit. Its state is
    read from what is asked of it (``desired``) and from its current unit; each start makes
    a new workload, and the workspace outlives them all."""

    __tablename__ = "environments"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid4 hex; names workspace
    name: Mapped[str] = mapped_column(String(63))  # also its JupyterHub server name
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    image: Mapped[str] = mapped_column(String(400))  # name:tag, from the catalogue
    gpus: Mapped[int] = mapped_column(Integer, default=0)
    cpus: Mapped[float | None] = mapped_column(Float, default=None)
    memory_mib: Mapped[int | None] = mapped_column(Integer, default=None)
    volumes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    ssh_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    desired: Mapped[str] = mapped_column(String(16), default=Desired.running)
    # The workload of the latest start; None until JupyterHub asks for the unit.
    workload_id: Mapped[str | None] = mapped_column(
        ForeignKey("workloads.id", ondelete="SET NULL"), default=None)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Why it stopped when no unit says so (idle, JupyterHub gave up); cleared on start.
    stop_reason: Mapped[str | None] = mapped_column(Text, default=None)
    # Set while the idle-GPU policy has warned that it will stop it; cleared once its GPUs
    # work again, and on start.
    idle_warning: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
