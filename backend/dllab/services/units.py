"""Units: place one on a host, send it to the host's agent, stop it, show it.

Every query goes through ``visible_units`` so that a user only ever sees their own units
(another user's unit is "not found"); admins see all.
"""

from __future__ import annotations

import threading
import uuid

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from dllab.config import Settings
from dllab.db.models import Host, Unit, User
from dllab.db.models.base import utcnow
from dllab.dispatch import Dispatcher
from dllab.errors import Conflict, NotFound, Unavailable
from dllab.protocol import (
    FINAL_UNIT_STATES,
    LABEL_HOST,
    LABEL_KIND,
    LABEL_OWNER,
    LABEL_WORKLOAD,
    RuntimeKind,
    UnitSpec,
    UnitState,
)
from dllab.scheduler.placement import HostView, place, why_not
from dllab.schemas.hosts import HostStatus
from dllab.schemas.units import UnitCreate, UnitGpu, UnitPublic
from dllab.services.hosts import host_status


def visible_units(user: User) -> Select[tuple[Unit]]:
    query = select(Unit)
    return query if user.is_admin else query.where(Unit.owner_id == user.id)


def get_unit(session: Session, user: User, unit_id: str) -> Unit:
    unit = session.scalar(visible_units(user).where(Unit.id == unit_id))
    if unit is None:
        raise NotFound(f"no unit {unit_id}", reason="unit_not_found")
    return unit


def list_units(session: Session, user: User, offset: int, limit: int,
               state: UnitState | None = None) -> tuple[list[Unit], int]:
    query = visible_units(user)
    if state is not None:
        query = query.where(Unit.state == state)
    rows = session.scalars(query.order_by(Unit.created_at.desc(), Unit.id)
                           .offset(offset).limit(limit)).all()
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return list(rows), total


def _host_views(session: Session, settings: Settings, hosts: list[Host]) -> list[HostView]:
    used: dict[int, set[int]] = {h.id: set() for h in hosts}
    active = session.execute(select(Unit.host_id, Unit.gpus).where(
        Unit.host_id.is_not(None), Unit.state.not_in(FINAL_UNIT_STATES)))
    for host_id, gpus in active:
        used.setdefault(host_id, set()).update(gpus)
    now = utcnow()
    return [HostView(name=h.name, online=host_status(h, now, settings) == HostStatus.online,
                     gpus=tuple(g["index"] for g in h.gpus), used=frozenset(used[h.id]))
            for h in hosts]


# Placement reads what is free, then writes what it takes: two requests must not both
# read before either writes. Across control-plane processes on PostgreSQL the hosts' row
# locks see to it; within one process (all there is on SQLite, which ignores FOR UPDATE and
# starts its transactions at the first write) this lock does.
_placing = threading.Lock()


def create_unit(session: Session, settings: Settings, dispatcher: Dispatcher, owner: User,
                body: UnitCreate) -> Unit:
    with _placing:
        unit, host = _place_unit(session, settings, owner, body)
    try:
        dispatcher.start_unit(host.name, UnitSpec.model_validate(unit.spec))
    except Unavailable:
        # Not sent, so not started: take the row back rather than leave a unit that
        # holds GPUs and will never run.
        session.delete(unit)
        session.commit()
        raise
    return unit


def _place_unit(session: Session, settings: Settings, owner: User,
                body: UnitCreate) -> tuple[Unit, Host]:
    query = select(Host).order_by(Host.name).with_for_update()
    if body.host is not None:
        query = query.where(Host.name == body.host)
    hosts = list(session.scalars(query).all())
    if body.host is not None and not hosts:
        raise NotFound(f"no host {body.host!r}", reason="host_not_found")
    views = _host_views(session, settings, hosts)
    placement = place(views, body.gpus)
    if placement is None:
        raise Conflict(f"cannot place unit {body.name!r}: {why_not(views, body.gpus)}",
                       reason="no_capacity")
    host = next(h for h in hosts if h.name == placement.host)
    unit_id = uuid.uuid4().hex
    spec = UnitSpec(
        unit_id=unit_id, name=f"dllab-{body.name}-{unit_id[:8]}",
        image=body.image or (settings.default_image if host.runtime == RuntimeKind.docker
                             else None),
        command=body.command, env=body.env, gpus=list(placement.gpus),
        gpus_simulated=any(g["simulated"] for g in host.gpus if g["index"] in placement.gpus),
        cpus=body.cpus, memory_mib=body.memory_mib, ports=body.ports,
        labels={LABEL_KIND: "unit", LABEL_OWNER: owner.username, LABEL_WORKLOAD: unit_id,
                LABEL_HOST: host.name},
    )
    unit = Unit(id=unit_id, name=body.name, owner_id=owner.id, kind="unit", host_id=host.id,
                gpus=list(placement.gpus), spec=spec.model_dump(mode="json"),
                state=UnitState.starting)
    session.add(unit)
    session.commit()
    return unit, host


def stop_unit(session: Session, dispatcher: Dispatcher, user: User, unit_id: str) -> Unit:
    unit = get_unit(session, user, unit_id)
    if UnitState(unit.state).final or unit.host_id is None:
        return unit
    host = session.get(Host, unit.host_id)
    assert host is not None
    before = unit.state
    # Conditional, so that an exit recorded meanwhile by an agent's report is not undone.
    changed = session.execute(update(Unit).where(
        Unit.id == unit.id, Unit.state.not_in(FINAL_UNIT_STATES)).values(
        state=UnitState.stopping)).rowcount
    session.commit()
    session.refresh(unit)
    if changed:
        try:
            dispatcher.stop_unit(host.name, unit.id)
        except Unavailable:
            # Not sent: put the state back so that the stop can simply be asked again.
            session.execute(update(Unit).where(
                Unit.id == unit.id, Unit.state == UnitState.stopping).values(state=before))
            session.commit()
            raise
    return unit


def to_public(session: Session, unit: Unit) -> UnitPublic:
    host = session.get(Host, unit.host_id) if unit.host_id else None
    owner = session.get(User, unit.owner_id)
    inventory = {g["index"]: g for g in host.gpus} if host else {}
    gpus = [UnitGpu(index=i, uuid=inventory.get(i, {}).get("uuid"), visible_index=n,
                    simulated=bool(inventory.get(i, {}).get("simulated")))
            for n, i in enumerate(unit.gpus)]
    return UnitPublic(
        id=unit.id, name=unit.name, kind=unit.kind, owner=owner.username if owner else "?",
        state=UnitState(unit.state), host=host.name if host else None, gpus=gpus,
        image=unit.spec.get("image"), command=unit.spec["command"], ports=unit.ports,
        exit_code=unit.exit_code, error=unit.error, created_at=unit.created_at,
        started_at=unit.started_at, finished_at=unit.finished_at,
    )
