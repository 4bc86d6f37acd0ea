"""The scheduler's thin layer over the database: load hosts, queue, quotas and usage, make
one pure pass (``dllab.scheduler.queue.schedule``), write its decisions, then send the
placed units to their agents.

A pass runs after every submission, after units end, when a host registers, and every
``scheduler_seconds`` besides (``outcomes.tick``, which also declares dead hosts).

Passes never overlap, so two can never book one GPU twice: on PostgreSQL a transaction-
scoped advisory lock serialises them across every control-plane process; on SQLite (one
process: the embedded mode) a lock in the process does. What changes the queue under a pass
(stopping a queued unit) takes the same lock.

Allocations are rows: a placed unit's host and GPUs. The reservation that bounds the head's
wait is a row too (``Workload.reserved_on``), so a restarted control plane goes on where
it stopped.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dllab.config import Settings
from dllab.db.models import Host, HostStatus, Unit, User, Workload
from dllab.db.models.base import utcnow
from dllab.dispatch import Dispatcher
from dllab.errors import Unavailable
from dllab.jobs import cluster
from dllab.protocol import FINAL_UNIT_STATES, LABEL_HOST, RuntimeKind, UnitSpec, UnitState
from dllab.scheduler.placement import HostView, Placement, Policy, UnitRequest
from dllab.scheduler.queue import Request, Reservation, schedule

log = logging.getLogger(__name__)

ADVISORY_LOCK = 0x646C6C6162  # "dllab"
_in_process = threading.Lock()


@contextmanager
def exclusive(session: Session) -> Iterator[None]:
    """Hold the scheduler's lock until the session's transaction ends (the block commits).
    What the session holds is expired: rows read before the lock may have changed."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(ADVISORY_LOCK)))
        session.expire_all()
        yield
    else:
        with _in_process:
            session.expire_all()
            yield


def run_pass(session: Session, settings: Settings, dispatcher: Dispatcher) -> None:
    with exclusive(session):
        placed = _decide(session, settings)
        session.commit()
    _send(session, dispatcher, placed)


def _decide(session: Session, settings: Settings) -> list[tuple[str, Unit]]:
    now = utcnow()
    hosts = {h.name: h for h in session.scalars(select(Host).order_by(Host.name))}
    active = session.scalars(select(Unit).where(Unit.state.not_in(FINAL_UNIT_STATES))).all()
    queued: dict[str, list[Unit]] = defaultdict(list)
    used: dict[int, set[int]] = defaultdict(set)
    usage: dict[str, int] = defaultdict(int)
    for unit in active:
        if unit.state == UnitState.queued:
            queued[unit.workload_id].append(unit)
        elif unit.host_id is not None:
            used[unit.host_id].update(unit.gpus)
            usage[str(unit.owner_id)] += len(unit.gpus)
    reserved = session.scalars(select(Workload).where(Workload.reserved_on.is_not(None))).all()
    workloads = {w.id: w for w in reserved}
    if queued:
        workloads.update((w.id, w) for w in session.scalars(
            select(Workload).where(Workload.id.in_(list(queued)))))
    owners = {w.owner_id for w in workloads.values()}
    quotas = {str(user_id): quota for user_id, quota in session.execute(
        select(User.id, User.gpu_quota).where(User.id.in_(owners)))} if owners else {}

    offline_after = settings.host_offline_seconds
    views = [HostView(name=h.name, online=h.status(now, offline_after) == HostStatus.online,
                      gpus=tuple(g["index"] for g in h.gpus), used=frozenset(used[h.id]),
                      runtime=h.runtime)
             for h in hosts.values()]
    requests = []
    for workload_id, units in queued.items():
        workload = workloads[workload_id]
        units.sort(key=lambda u: u.index)
        requests.append(Request(
            id=workload.id, owner=str(workload.owner_id), priority=workload.priority,
            submitted_at=workload.submitted_at.timestamp(), policy=Policy(workload.policy),
            units=tuple(UnitRequest(u.gpu_count, u.spec.get("cpus") or 0.0,
                                    u.spec.get("memory_mib") or 0, u.spec.get("runtime"))
                        for u in units)))
    holder = next((w for w in reserved if w.id in queued), None)
    reservation = (Reservation(holder.id, tuple(holder.reserved_on.split(",")))
                   if holder is not None and holder.reserved_on else None)

    decisions = schedule(views, requests, quotas, usage, reservation)

    ports_in_use: dict[str, set[int]] = defaultdict(set)  # by host address
    addresses = {h.id: h.address or h.name for h in hosts.values()}
    for unit in active:
        if unit.host_id in addresses and unit.spec.get("host_port"):
            ports_in_use[addresses[unit.host_id]].add(unit.spec["host_port"])
    placed = []
    for decision in decisions.placed:
        workload = workloads[decision.request]
        workload.position = workload.reason = None
        gang = []
        for unit, placement in zip(queued[workload.id], decision.placements, strict=True):
            host = hosts[placement.host]
            gang.append(cluster.Member(_placed_spec(unit, host, placement, settings),
                                       host.address or host.name, host.runtime))
        cluster.bind(gang, ports_in_use, settings.job_ports)
        for unit, placement, member in zip(queued[workload.id], decision.placements, gang,
                                           strict=True):
            unit.spec = member.spec.model_dump(mode="json")
            unit.host_id, unit.gpus, unit.state = hosts[placement.host].id, list(
                placement.gpus), UnitState.starting
            unit.placed_at = utcnow()
            placed.append((placement.host, unit))
    for waiting in decisions.waiting:
        workload = workloads[waiting.request]
        workload.position, workload.reason = waiting.position, waiting.reason
    for workload in reserved:
        workload.reserved_on = None
    if decisions.reservation is not None:
        workloads[decisions.reservation.request].reserved_on = ",".join(
            decisions.reservation.hosts)
    return placed


def _placed_spec(unit: Unit, host: Host, placement: Placement, settings: Settings) -> UnitSpec:
    spec = UnitSpec.model_validate(unit.spec)
    spec.gpus = list(placement.gpus)
    spec.gpus_simulated = any(g["simulated"] for g in host.gpus if g["index"] in placement.gpus)
    if spec.image is None and host.runtime == RuntimeKind.docker:
        spec.image = settings.default_image
    spec.labels[LABEL_HOST] = host.name
    return spec


def _send(session: Session, dispatcher: Dispatcher, placed: list[tuple[str, Unit]]) -> None:
    """Send each placed gang; a gang that cannot all be sent goes back to the queue whole."""
    gangs: dict[str, list[tuple[str, Unit]]] = defaultdict(list)
    for host_name, unit in placed:
        gangs[unit.workload_id].append((host_name, unit))
    for gang in gangs.values():
        sent: list[tuple[str, Unit]] = []
        try:
            for host_name, unit in gang:
                dispatcher.start_unit(host_name, UnitSpec.model_validate(unit.spec))
                sent.append((host_name, unit))
        except Unavailable as exc:
            log.warning("placed units go back to the queue: %s", exc.log_message)
            for host_name, unit in sent:
                with suppress(Unavailable):
                    dispatcher.stop_unit(host_name, unit.id)
            _unplace(session, [unit for _, unit in gang])


def _unplace(session: Session, units: list[Unit]) -> None:
    workload = session.get(Workload, units[0].workload_id)
    if workload is not None:
        workload.reason = ("was placed, but the command broker is unreachable; it will be "
                           "placed again on the next pass")
    for unit in units:
        session.refresh(unit)
        if unit.state != UnitState.starting:
            continue  # an agent's report or a stop got there first
        spec = UnitSpec.model_validate(unit.spec)
        spec.gpus, spec.gpus_simulated = [], False
        spec.labels.pop(LABEL_HOST, None)
        if spec.host_port:
            spec.host_port = 0
        unit.spec = spec.model_dump(mode="json")
        unit.host_id, unit.gpus, unit.state = None, [], UnitState.queued
        unit.placed_at = None
    session.commit()
