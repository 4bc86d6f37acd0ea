"""Workloads: submitted as a gang of queued units; handled by their policy when a unit is
lost, whether its agent no longer knows it, its host was declared dead or was removed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from dllab.db.models import Host, LostPolicy, Unit, User, Workload
from dllab.db.models.base import utcnow
from dllab.dispatch import Dispatcher
from dllab.errors import Unavailable
from dllab.protocol import (
    LABEL_HOST,
    LABEL_KIND,
    LABEL_OWNER,
    LABEL_WORKLOAD,
    UnitSpec,
    UnitState,
)
from dllab.scheduler.placement import Policy

Stops = list[tuple[str, str]]  # (host name, unit id): commands to send after the commit


@dataclass(frozen=True)
class UnitTemplate:
    """One unit of a submission: its name and its spec (GPUs and host left to the scheduler)."""

    name: str
    gpus: int
    spec: UnitSpec


def submit(session: Session, owner: User, kind: str, name: str, units: list[UnitTemplate],
           priority: int = 0, policy: Policy = Policy.pack, on_lost: LostPolicy = LostPolicy.fail,
           max_restarts: int = 0) -> tuple[Workload, list[Unit]]:
    """Record a workload and its units, queued, labelled with kind, owner and workload; the
    caller commits and runs a pass."""
    workload = Workload(id=uuid.uuid4().hex, kind=kind, name=name, owner_id=owner.id,
                        priority=priority, policy=policy, on_lost=on_lost,
                        max_restarts=max_restarts, submitted_at=utcnow())
    session.add(workload)
    session.flush()  # before its units: no relationship tells the ORM the order
    labels = {LABEL_KIND: kind, LABEL_OWNER: owner.username}
    rows = [_new_unit(workload, index, t.name, t.gpus,
                      t.spec.model_copy(update={"labels": {**t.spec.labels, **labels}}))
            for index, t in enumerate(units)]
    session.add_all(rows)
    return workload, rows


def _new_unit(workload: Workload, index: int, name: str, gpus: int, template: UnitSpec) -> Unit:
    unit_id = uuid.uuid4().hex
    spec = template.model_copy(deep=True)
    spec.unit_id, spec.name = unit_id, f"dllab-{name}-{unit_id[:8]}"
    spec.gpus, spec.gpus_simulated = [], False
    if spec.host_port:
        spec.host_port = 0  # wanted again: its next host picks one
    spec.labels.pop(LABEL_HOST, None)
    spec.labels[LABEL_WORKLOAD] = workload.id
    return Unit(id=unit_id, name=name, owner_id=workload.owner_id, kind=workload.kind,
                workload_id=workload.id, attempt=workload.attempt, index=index, gpu_count=gpus,
                gpus=[], spec=spec.model_dump(mode="json"), state=UnitState.queued)


def current_gang(session: Session, workload: Workload) -> list[Unit]:
    return list(session.scalars(select(Unit).where(
        Unit.workload_id == workload.id, Unit.attempt == workload.attempt)
        .order_by(Unit.index)).all())


def stop_gang(session: Session, gang: list[Unit], why: str) -> Stops:
    """End every unit of ``gang`` still alive: one never sent anywhere at once, the others
    once their agents have stopped them (the stops to send after the commit)."""
    stops: Stops = []
    for unit in gang:
        if UnitState(unit.state).final:
            continue
        unit.error = why
        if unit.state == UnitState.queued or unit.host_id is None:
            unit.state, unit.finished_at = UnitState.stopped, utcnow()
        else:
            unit.state = UnitState.stopping
            host = session.get(Host, unit.host_id)
            if host is not None:
                stops.append((host.name, unit.id))
    return stops


def requeue(session: Session, workload: Workload, gang: list[Unit]) -> None:
    """Queue copies of ``gang`` as the workload's next attempt."""
    workload.restarts += 1
    workload.attempt += 1
    workload.position = workload.reason = None
    session.add_all(_new_unit(workload, u.index, u.name, u.gpu_count,
                              UnitSpec.model_validate(u.spec)) for u in gang)


def handle_lost(session: Session, lost: list[Unit]) -> Stops:
    """Apply each affected workload's policy: stop the rest of the lost unit's attempt, then
    either queue the whole gang again as the next attempt or leave it failed. The caller
    commits, then sends the stops."""
    stops: Stops = []
    for workload_id in dict.fromkeys(u.workload_id for u in lost):
        workload = session.get(Workload, workload_id)
        first = next(u for u in lost if u.workload_id == workload_id)
        if workload is None or first.attempt != workload.attempt:
            continue  # an earlier attempt's unit: already handled
        gang = current_gang(session, workload)
        stops += stop_gang(session, gang,
                           f"stopped: unit {first.name} of the same workload was lost")
        if workload.on_lost == LostPolicy.restart and workload.restarts < workload.max_restarts:
            requeue(session, workload, gang)
    return stops


def lose(unit: Unit, why: str) -> bool:
    """Mark a unit of a host that is gone: a unit being stopped counts as stopped, any other
    as lost. True when it is lost."""
    unit.finished_at = utcnow()
    if unit.state == UnitState.stopping:
        unit.state = UnitState.stopped
        return False
    unit.state, unit.error = UnitState.lost, why
    return True


def send_stops(dispatcher: Dispatcher, stops: Stops) -> None:
    """Best effort: an agent that misses a stop is told again when it next reports the unit,
    which has ended for the control plane."""
    for host_name, unit_id in stops:
        try:
            dispatcher.stop_unit(host_name, unit_id)
        except Unavailable:
            continue
