"""Units: place one on a host, send it to the host's agent, stop it, show it.

Every read goes through ``owned`` so that a user only ever sees their own units (another
user's unit is "not found"); admins see all.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dllab.config import Settings
from dllab.db.models import Host, Unit, User, Workload
from dllab.db.models.base import utcnow
from dllab.dispatch import Dispatcher
from dllab.errors import Forbidden, Unavailable
from dllab.protocol import (
    FINAL_UNIT_STATES,
    UnitSpec,
    UnitState,
)
from dllab.schemas.units import UnitCreate, UnitGpu, UnitPublic
from dllab.services import owned, scheduling, workloads
from dllab.services.workloads import UnitTemplate


def get_unit(session: Session, user: User, unit_id: str) -> Unit:
    return owned.get(session, user, Unit, unit_id, "unit")


def list_units(session: Session, user: User, offset: int, limit: int,
               state: UnitState | None = None) -> tuple[list[Unit], int]:
    query = owned.visible(user, Unit)
    if state is not None:
        query = query.where(Unit.state == state)
    rows = session.scalars(query.order_by(Unit.created_at.desc(), Unit.id)
                           .offset(offset).limit(limit)).all()
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return list(rows), total


def create_unit(session: Session, settings: Settings, dispatcher: Dispatcher, owner: User,
                body: UnitCreate) -> Unit:
    """Queue a unit as a workload of its own and run a pass: the answer shows it starting on
    a host, or queued with its position and the reason it waits."""
    if body.priority > 0 and not owner.is_admin:
        raise Forbidden("only an admin may give a priority above 0", reason="priority")
    template = UnitSpec(
        unit_id="-", name="-", image=body.image, command=body.command, env=body.env,
        cpus=body.cpus, memory_mib=body.memory_mib, ports=body.ports)
    _, [unit] = workloads.submit(
        session, owner, "unit", body.name, [UnitTemplate(body.name, body.gpus, template)],
        priority=body.priority, on_lost=body.on_lost, max_restarts=body.max_restarts)
    session.commit()
    scheduling.run_pass(session, settings, dispatcher)
    session.refresh(unit)
    return unit


def stop_unit(session: Session, settings: Settings, dispatcher: Dispatcher, user: User,
              unit_id: str) -> Unit:
    unit = get_unit(session, user, unit_id)
    if UnitState(unit.state).final:
        return unit
    if unit.state == UnitState.queued:
        return _stop_queued(session, settings, dispatcher, user, unit)
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


def _stop_queued(session: Session, settings: Settings, dispatcher: Dispatcher, user: User,
                 unit: Unit) -> Unit:
    """Never sent anywhere, so stopped at once; under the scheduler's lock, as a pass could
    be placing it. Then a pass: what it waited for, or held, is another's now."""
    with scheduling.exclusive(session):
        session.refresh(unit)
        if unit.state == UnitState.queued:
            unit.state, unit.finished_at = UnitState.stopped, utcnow()
            workload = session.get(Workload, unit.workload_id)
            assert workload is not None
            workload.position = workload.reason = workload.reserved_on = None
        session.commit()
    if unit.state != UnitState.stopped:  # placed meanwhile: stop it on its host
        return stop_unit(session, settings, dispatcher, user, unit.id)
    scheduling.run_pass(session, settings, dispatcher)
    return unit


def unit_gpus(host: Host | None, unit: Unit) -> list[UnitGpu]:
    """The GPUs ``unit`` holds on ``host``: physical index and UUID, and the index it sees."""
    inventory = {g["index"]: g for g in host.gpus} if host else {}
    return [UnitGpu(index=i, uuid=inventory.get(i, {}).get("uuid"), visible_index=n,
                    simulated=bool(inventory.get(i, {}).get("simulated")))
            for n, i in enumerate(unit.gpus)]


def to_public(session: Session, unit: Unit) -> UnitPublic:
    host = session.get(Host, unit.host_id) if unit.host_id else None
    owner = session.get(User, unit.owner_id)
    workload = session.get(Workload, unit.workload_id)
    assert workload is not None
    queued = unit.state == UnitState.queued
    gpus = unit_gpus(host, unit)
    return UnitPublic(
        id=unit.id, name=unit.name, kind=unit.kind, owner=owner.username if owner else "?",
        workload=workload.id, attempt=unit.attempt, priority=workload.priority,
        state=UnitState(unit.state), position=workload.position if queued else None,
        reason=workload.reason if queued else None, host=host.name if host else None,
        gpu_count=unit.gpu_count, gpus=gpus,
        image=unit.spec.get("image"), command=unit.spec["command"], ports=unit.ports,
        exit_code=unit.exit_code, error=unit.error, created_at=unit.created_at,
        started_at=unit.started_at, finished_at=unit.finished_at,
    )
