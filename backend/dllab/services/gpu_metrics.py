"""GPU readings: taken in from agents, kept as history, read back for charts.

Agents post a sample per second. Each goes into the book (the latest readings, in memory)
and into ``gpu_readings`` at 1 s resolution; ``compact`` later replaces readings older than
``gpu_history_fine_hours`` with 1 min averages (one per GPU and holder) and drops averages
older than ``gpu_history_days``. ``history`` averages whatever rows a range holds into
steps of the size asked for.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert, select
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
    fine = session.scalars(select(GpuReading).where(
        GpuReading.step == 1, GpuReading.at < cutoff)).all()
    groups: dict[tuple[int, int, datetime, str | None], list[GpuReading]] = defaultdict(list)
    for row in fine:
        minute = row.at.replace(second=0, microsecond=0)
        groups[(row.host_id, row.gpu, minute, row.workload_id)].append(row)
    averaged = []
    for (host_id, gpu, minute, workload_id), rows in groups.items():
        last = max(rows, key=lambda r: r.at)
        averaged.append({
            "host_id": host_id, "gpu": gpu, "at": minute, "step": COARSE_STEP,
            **{name: _mean([getattr(r, name) for r in rows]) for name in _FIELDS},
            "memory_total_mib": last.memory_total_mib, "unit_id": last.unit_id,
            "workload_id": workload_id, "owner_id": last.owner_id,
        })
    if averaged:
        session.execute(insert(GpuReading), averaged)
    session.execute(delete(GpuReading).where(GpuReading.step == 1, GpuReading.at < cutoff))
    session.execute(delete(GpuReading).where(
        GpuReading.at < now - timedelta(days=settings.gpu_history_days)))
    session.commit()
    return len(fine)


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


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
    statement = select(GpuReading, Host.name).join(Host, Host.id == GpuReading.host_id).where(
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
    buckets: dict[tuple[str, int], dict[int, list[GpuReading]]] = defaultdict(
        lambda: defaultdict(list))
    for row, host_name in session.execute(statement.order_by(GpuReading.at)):
        slot = int((row.at - start).total_seconds() // step)
        buckets[(host_name, row.gpu)][slot].append(row)
    series = [
        GpuSeries(host=host_name, gpu=gpu, points=[
            _point(start + timedelta(seconds=slot * step), rows)
            for slot, rows in sorted(slots.items())])
        for (host_name, gpu), slots in sorted(buckets.items())
    ]
    return GpuHistory(from_=start, to=end, step=step, series=series)


def _point(at: datetime, rows: list[GpuReading]) -> GpuPoint:
    """Rows' average, each weighted by the seconds it covers."""
    def average(name: str) -> float | None:
        weighted = [(getattr(r, name), r.step) for r in rows if getattr(r, name) is not None]
        total = sum(w for _, w in weighted)
        return round(sum(v * w for v, w in weighted) / total, 2) if total else None

    return GpuPoint(at=at.astimezone(UTC), memory_total_mib=rows[-1].memory_total_mib,
                    **{name: average(name) for name in _FIELDS})
