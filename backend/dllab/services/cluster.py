"""What the scheduler sees, for people: the queue in order, and every GPU with its holder."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from dllab.config import Settings
from dllab.db.models import Host, HostStatus, Unit, User, Workload
from dllab.db.models.base import utcnow
from dllab.protocol import FINAL_UNIT_STATES, RuntimeKind, UnitState
from dllab.schemas.cluster import ClusterGpu, ClusterHost, ClusterPublic, Holder, QueueEntry
from dllab.services import owned


def _queued_workloads(user: User) -> Select[tuple[Workload]]:
    return owned.visible(user, Workload).where(Workload.id.in_(
        select(Unit.workload_id).where(Unit.state == UnitState.queued)))


def queue(session: Session, user: User, offset: int, limit: int) -> tuple[list[QueueEntry], int]:
    """The workloads waiting, in the order the last pass saw them (yours only, unless you
    are an admin; positions count everyone's)."""
    query = _queued_workloads(user)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Workload.position.is_(None), Workload.position,
                                          Workload.priority.desc(), Workload.submitted_at)
                           .offset(offset).limit(limit)).all()
    units: dict[str, list[Unit]] = defaultdict(list)
    if rows:
        for unit in session.scalars(select(Unit).where(
                Unit.workload_id.in_([w.id for w in rows]), Unit.state == UnitState.queued)
                .order_by(Unit.index)):
            units[unit.workload_id].append(unit)
    owners = _usernames(session, {w.owner_id for w in rows})
    return [QueueEntry(
        position=w.position, workload=w.id, kind=w.kind, name=w.name, owner=owners[w.owner_id],
        priority=w.priority, gpus=sum(u.gpu_count for u in units[w.id]),
        units=[u.id for u in units[w.id]], submitted_at=w.submitted_at, reason=w.reason,
        reserved_hosts=w.reserved_on.split(",") if w.reserved_on else [])
        for w in rows], total


def cluster(session: Session, settings: Settings, offset: int, limit: int) -> ClusterPublic:
    now = utcnow()
    hosts = session.scalars(select(Host).order_by(Host.name).offset(offset).limit(limit)).all()
    placed = session.scalars(select(Unit).where(
        Unit.host_id.in_([h.id for h in hosts]), Unit.state.not_in(FINAL_UNIT_STATES),
        Unit.state != UnitState.queued)).all() if hosts else []
    owners = _usernames(session, {u.owner_id for u in placed})
    holders: dict[tuple[int, int], Holder] = {}
    for unit in placed:
        for visible, index in enumerate(unit.gpus):
            holders[unit.host_id, index] = Holder(  # type: ignore[index]
                unit=unit.id, unit_name=unit.name, workload=unit.workload_id, kind=unit.kind,
                owner=owners[unit.owner_id], state=unit.state, visible_index=visible)
    reserved = {}
    for workload_id, hosts_held in session.execute(select(Workload.id, Workload.reserved_on)
                                                   .where(Workload.reserved_on.is_not(None))):
        reserved.update((name, workload_id) for name in hosts_held.split(","))
    page = [ClusterHost(
        name=h.name, status=h.status(now, settings.host_offline_seconds),
        runtime=RuntimeKind(h.runtime) if h.runtime else None, reserved_for=reserved.get(h.name),
        gpus=[ClusterGpu(index=g["index"], uuid=g["uuid"], model=g["model"],
                         simulated=g["simulated"], held_by=holders.get((h.id, g["index"])))
              for g in h.gpus]) for h in hosts]
    online, free = _capacity(session, settings)
    return ClusterPublic(
        hosts=page, count=session.scalar(select(func.count(Host.id))) or 0, gpus=online,
        gpus_free=free, queued=session.scalar(select(func.count()).select_from(
            select(Unit.workload_id).where(Unit.state == UnitState.queued).distinct()
            .subquery())) or 0)


def _capacity(session: Session, settings: Settings) -> tuple[int, int]:
    """GPUs of the online hosts, and how many of them no unit holds."""
    now = utcnow()
    online = {h.id: {g["index"] for g in h.gpus} for h in session.scalars(select(Host))
              if h.status(now, settings.host_offline_seconds) == HostStatus.online}
    held = 0
    for host_id, gpus in session.execute(select(Unit.host_id, Unit.gpus).where(
            Unit.host_id.in_(list(online)), Unit.state.not_in(FINAL_UNIT_STATES))):
        held += len(online[host_id] & set(gpus))
    total = sum(len(g) for g in online.values())
    return total, total - held


def _usernames(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())
