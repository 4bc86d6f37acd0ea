"""GPU monitoring: readings kept over time, alert rules and the alerts they raised, and
the idle-GPU reclaim policy's record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dllab.db.models.base import Base, UTCDateTime, utcnow


class GpuReading(Base):
    """One GPU's readings over ``step`` seconds from ``at``: agents' 1 s samples, then 1 min
    averages once they are an hour old (see services/gpu_metrics.py). The holder's ids are
    copied, not referenced: history outlives the units and workloads it speaks of."""

    __tablename__ = "gpu_readings"
    __table_args__ = (
        Index("ix_gpu_readings_host_gpu", "host_id", "gpu", "step", "at"),
        Index("ix_gpu_readings_workload", "workload_id", "step", "at"),
        Index("ix_gpu_readings_step_at", "step", "at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"))
    gpu: Mapped[int] = mapped_column(Integer)  # physical index
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    step: Mapped[int] = mapped_column(Integer, default=1)  # seconds it covers
    utilization_pct: Mapped[float | None] = mapped_column(Float, default=None)
    memory_used_mib: Mapped[float | None] = mapped_column(Float, default=None)
    memory_total_mib: Mapped[int] = mapped_column(Integer, default=0)
    temperature_c: Mapped[float | None] = mapped_column(Float, default=None)
    power_w: Mapped[float | None] = mapped_column(Float, default=None)
    sm_clock_mhz: Mapped[float | None] = mapped_column(Float, default=None)
    unit_id: Mapped[str | None] = mapped_column(String(64), default=None)
    workload_id: Mapped[str | None] = mapped_column(String(64), default=None)
    owner_id: Mapped[int | None] = mapped_column(Integer, default=None)


class AlertRule(Base):
    """A condition on a GPU reading (or a host's silence) that raises an alert once it has
    held for ``duration_seconds``. Managed by admins; a few are made on first start."""

    __tablename__ = "alert_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    metric: Mapped[str] = mapped_column(String(32))  # monitoring.rules.Metric
    op: Mapped[str] = mapped_column(String(2))  # ">" or "<"
    threshold: Mapped[float] = mapped_column(Float)
    duration_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    severity: Mapped[str] = mapped_column(String(16))  # info, warning, critical
    host: Mapped[str | None] = mapped_column(String(63), default=None)  # scope: one host
    allocated_only: Mapped[bool] = mapped_column(Boolean, default=False)  # scope: held GPUs
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    webhook_url: Mapped[str | None] = mapped_column(String(2000), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Alert(Base):
    """One firing of a rule on one GPU (or host), until it resolves. The rule's name,
    metric and severity are copied: an alert outlives a rule edited or removed."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("alert_rules.id", ondelete="SET NULL"), index=True, default=None)
    rule_name: Mapped[str] = mapped_column(String(63))
    metric: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    host: Mapped[str] = mapped_column(String(63))
    gpu: Mapped[int | None] = mapped_column(Integer, default=None)  # None: the whole host
    workload_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    owner_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    value: Mapped[float | None] = mapped_column(Float, default=None)
    message: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)


class AlertDelivery(Base):
    """A webhook call owed for an alert's firing or resolving, tried until it gets a 2xx
    or runs out of attempts."""

    __tablename__ = "alert_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"),
                                          index=True)
    event: Mapped[str] = mapped_column(String(16))  # firing, resolved
    url: Mapped[str] = mapped_column(String(2000))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


class Policy(Base):
    """An admin setting kept in the database so that it changes without a restart:
    ``idle-gpus`` (the reclaim policy) is one."""

    __tablename__ = "policies"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Reclaim(Base):
    """An environment stopped because its GPUs stayed idle. Its GPUs count as reclaimed
    from then until the environment starts again."""

    __tablename__ = "gpu_reclaims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    environment_id: Mapped[str] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                          index=True)
    gpus: Mapped[int] = mapped_column(Integer)
    idle_seconds: Mapped[float] = mapped_column(Float)
    reclaimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
