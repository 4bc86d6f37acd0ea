"""GPU readings: taken in from agents, kept as history, read back for charts.

Agents post a sample per second. Each goes into the book (the latest readings, in memory)
and into ``gpu_readings`` at 1 s resolution; ``compact`` later replaces readings older than
``gpu_history_fine_hours`` with 1 min averages (one per GPU and holder) and drops averages
older than ``gpu_history_days``. ``history`` averages whatever rows a range holds into
steps of the size asked for. Both average in the database (GROUP BY): a cluster's hour is
millions of rows, too many to bring into Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, case, cast, delete, func, insert, select
from sqlalchemy.orm import Session

from dllab.config import Settings
from dllab.db.models import GpuReading, Host, ServiceReplica, User, Workload
from dllab.db.models.base import utcnow
from dllab.errors import BadRequest, NotFound
from dllab.monitoring.book import GpuBook
from dllab.protocol import MetricsReport
from dllab.schemas.metrics import GpuHistory, GpuPoint, GpuSeries
from dllab.services import environments, jobs, owned, serving

MAX_POINTS = 10_000  # per series in one answer
TARGET_POINTS = 300  # what the default step aims at: a chart's width
COARSE_STEP = 60
_FIELDS = ("utilization_pct", "memory_used_mib", "temperature_c", "power_w", "sm_clock_mhz")


def ingest(session: Session, book: GpuBook, host: Host, report: MetricsReport) -> None:
    """Keep one sample of a host's GPUs. Timed by our clock, not the agent's: history of
    hosts whose clocks drift still lines up."""
    now = utcnow()
    book.put(host.id, host.name, report.taken_at, report.gpus, now.timestamp())
    held = {g.holder.workload for g in report.gpus if g.holder and g.holder.workload}
    owners = dict(session.execute(select(Workload.id, Workload.owner_id).where(
        Workload.id.in_(held))).all()) if held else {}
    rows = []
    for gpu in report.gpus:
        workload = gpu.holder.workload if gpu.holder else None
        rows.append({
            "host_id": host.id, "gpu": gpu.index, "at": now, "step": 1,
            "utilization_pct": gpu.utilization_pct, "memory_used_mib": gpu.memory_used_mib,
            "memory_total_mib": gpu.memory_total_mib, "temperature_c": gpu.temperature_c,
            "power_w": gpu.power_w, "sm_clock_mhz": gpu.sm_clock_mhz,
            "unit_id": gpu.holder.unit if gpu.holder else None,
            # A label the agent read off a unit is trusted only for a workload we know.
            "workload_id": workload if workload in owners else None,
            "owner_id": owners.get(workload) if workload else None,
        })
    if rows:
        session.execute(insert(GpuReading), rows)
        session.commit()


def compact(session: Session, settings: Settings, now: datetime | None = None) -> int:
    """Average 1 s readings older than the fine window into 1 min ones (whole minutes
    only) and drop averages past the retention; returns how many 1 s rows went."""
    now = now or utcnow()
    cutoff = now - timedelta(hours=settings.gpu_history_fine_hours)
    cutoff = cutoff.replace(second=0, microsecond=0)
    old = (GpuReading.step == 1, GpuReading.at < cutoff)
    minute = _minute(session, GpuReading.at)
    # A workload's unit can change within a minute (a restart): the greatest id stands.
    session.execute(insert(GpuReading).from_select(
        ["host_id", "gpu", "at", "step", *_FIELDS, "memory_total_mib", "unit_id",
         "workload_id", "owner_id"],
        select(GpuReading.host_id, GpuReading.gpu, minute, COARSE_STEP,
               *(func.avg(getattr(GpuReading, name)) for name in _FIELDS),
               func.max(GpuReading.memory_total_mib), func.max(GpuReading.unit_id),
               GpuReading.workload_id, func.max(GpuReading.owner_id))
        .where(*old).group_by(GpuReading.host_id, GpuReading.gpu, minute,
                              GpuReading.workload_id)))
    gone = session.execute(delete(GpuReading).where(*old)).rowcount
    session.execute(delete(GpuReading).where(
        GpuReading.at < now - timedelta(days=settings.gpu_history_days)))
    session.commit()
    return gone


def _minute(session: Session, at: Any) -> ColumnElement[Any]:
    """``at`` cut to its minute, in the form this database keeps ``at`` in."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("minute", at)
    # SQLite keeps '2026-11-27 10:31:59.999999'; its date functions would round that up.
    return func.substr(at, 1, 16).concat(":00.000000")


def _seconds(session: Session, at: Any) -> ColumnElement[int]:
    """``at`` in whole seconds since 1970."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", at)), BigInteger)
    return cast(func.strftime("%s", func.substr(at, 1, 19)), BigInteger)  # see _minute


@dataclass(frozen=True)
class Query:
    """What ``GET /metrics/gpus`` asks for, as given (None: not given)."""

    host: str | None = None
    gpu: int | None = None
    workload: str | None = None
    environment: str | None = None
    job: str | None = None
    service: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    step: int | None = None


def _workloads(session: Session, user: User, query: Query) -> list[str] | None:
    """The workloads whose GPUs are asked for (checked visible to ``user``); None: any."""
    if query.workload is not None:
        return [owned.get(session, user, Workload, query.workload, "workload").id]
    if query.environment is not None:
        env = environments.get(session, user, query.environment)
        return [env.workload_id] if env.workload_id else []
    if query.job is not None:
        return [jobs.get(session, user, query.job).workload_id]
    if query.service is not None:
        service = serving.get(session, user, query.service)
        return list(session.scalars(select(ServiceReplica.workload_id).where(
            ServiceReplica.service_id == service.id)))
    return None


def _range(settings: Settings, query: Query, now: datetime) -> tuple[datetime, datetime, int]:
    end = query.end or now
    start = query.start or end - timedelta(minutes=15)
    if start.tzinfo is None or end.tzinfo is None:
        raise BadRequest("from and to need a time zone (e.g. 2026-11-27T10:00:00Z)")
    start = start.replace(microsecond=0)  # steps are whole seconds from it
    if start >= end:
        raise BadRequest("from must be before to")
    span = (end - start).total_seconds()
    if span > settings.gpu_history_days * 86400:
        raise BadRequest(f"the range spans {span / 86400:.1f} days; history keeps "
                         f"{settings.gpu_history_days:g}: ask for less")
    step = query.step or max(1, math.ceil(span / TARGET_POINTS))
    if query.step is None and start < now - timedelta(hours=settings.gpu_history_fine_hours):
        step = max(step, COARSE_STEP)  # older readings are minute averages already
    if span / step > MAX_POINTS:
        raise BadRequest(f"{math.ceil(span / step)} points per GPU is too many (at most "
                         f"{MAX_POINTS}): use a step of at least {math.ceil(span / MAX_POINTS)} s")
    return start, end, step


def history(session: Session, settings: Settings, user: User, query: Query) -> GpuHistory:
    """GPU readings over a range, averaged per step, one series per GPU. Any user reads any
    host's GPUs (as the cluster page shows them); a workload's only its owner or an admin."""
    start, end, step = _range(settings, query, utcnow())
    workloads = _workloads(session, user, query)
    slot = ((_seconds(session, GpuReading.at) - int(start.timestamp())) // step).label("slot")
    statement = select(
        Host.name.label("host"), GpuReading.gpu, slot,
        func.max(GpuReading.memory_total_mib).label("memory_total_mib"),
        *(_weighted(getattr(GpuReading, name)).label(name) for name in _FIELDS),
    ).join(Host, Host.id == GpuReading.host_id).where(
        GpuReading.at >= start, GpuReading.at < end)
    if query.host is not None:
        host_id = session.scalar(select(Host.id).where(Host.name == query.host))
        if host_id is None:
            raise NotFound(f"no host {query.host}", reason="host_not_found")
        statement = statement.where(GpuReading.host_id == host_id)
    if query.gpu is not None:
        statement = statement.where(GpuReading.gpu == query.gpu)
    if workloads is not None:
        statement = statement.where(GpuReading.workload_id.in_(workloads))
    points = session.execute(statement.group_by(Host.name, GpuReading.gpu, slot)
                             .order_by(Host.name, GpuReading.gpu, slot))
    series = [
        GpuSeries(host=host, gpu=gpu, points=[
            GpuPoint(at=(start + timedelta(seconds=row.slot * step)).astimezone(UTC),
                     memory_total_mib=row.memory_total_mib,
                     **{name: None if (value := getattr(row, name)) is None
                        else round(value, 2) for name in _FIELDS})
            for row in rows])
        for (host, gpu), rows in groupby(points, key=lambda row: (row.host, row.gpu))
    ]
    return GpuHistory(from_=start, to=end, step=step, series=series)


def _weighted(column: Any) -> ColumnElement[float]:
    """The average of ``column`` over a step's rows, each weighted by the seconds it covers
    (a minute average counts 60 times a 1 s reading); None where no row has a value."""
    return (func.sum(column * GpuReading.step)
            / func.sum(case((column.is_not(None), GpuReading.step))))
