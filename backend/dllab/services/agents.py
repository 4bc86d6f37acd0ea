"""What agents tell the control plane: registration, heartbeats, unit reports, log lines.

A host only ever speaks of its own units: a report about a unit placed elsewhere is
ignored, and log lines for it are refused.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from dllab import protocol
from dllab.config import Settings
from dllab.db.models import Host, HostStatus, Unit
from dllab.db.models.base import utcnow
from dllab.dispatch import Dispatcher
from dllab.errors import NotFound
from dllab.protocol import FINAL_UNIT_STATES, ObservedState, UnitReport, UnitState
from dllab.services import outcomes, scheduling, workloads
from dllab.services.logs import LogStore

_WAITING = (UnitState.queued, UnitState.starting)


def next_state(current: UnitState, report: UnitReport) -> UnitState | None:
    """The unit's new state after an agent's report, or None to leave it as it is."""
    if current.final:
        return None
    match report.state:
        case ObservedState.starting:
            return UnitState.starting if current in _WAITING else None
        case ObservedState.running:
            return UnitState.running if current in _WAITING else None
        case ObservedState.exited if current == UnitState.stopping:
            return None  # stopped, not yet removed: "stopped" waits for the removal
        case ObservedState.exited:
            return UnitState.exited if report.exit_code == 0 else UnitState.failed
        case ObservedState.missing:
            return UnitState.stopped if current == UnitState.stopping else UnitState.lost
    return None


def _epoch(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _apply(unit: Unit, report: UnitReport) -> None:
    if report.runtime_id:
        unit.runtime_id = report.runtime_id
    if report.ports:
        unit.ports = {str(k): v for k, v in report.ports.items()}
    unit.started_at = unit.started_at or _epoch(report.started_at)
    new = next_state(UnitState(unit.state), report)
    if new is None:
        return
    unit.state = new
    if new.final:
        unit.finished_at = _epoch(report.finished_at) or utcnow()
        unit.exit_code = report.exit_code
        if new == UnitState.failed:
            unit.error = report.error or (
                f"exited with code {report.exit_code}" if report.exit_code is not None
                else "ended; exit status unknown")
        elif new == UnitState.lost:
            unit.error = "its host no longer runs it"


def _apply_reports(session: Session, settings: Settings, dispatcher: Dispatcher, host: Host,
                   reports: list[UnitReport]) -> bool:
    """Apply the reports, then have the agent remove what should no longer be there: units
    that have ended (their exit is recorded) and units this host should not run at all.
    Ended units go to their workloads' rules. True when a unit ended: its GPUs are free,
    so the caller runs a scheduling pass (one, whatever else it has to say)."""
    units = {u.id: u for u in session.scalars(select(Unit).where(
        Unit.host_id == host.id, Unit.id.in_([r.unit_id for r in reports])))} if reports else {}
    remove = []
    ended = []
    for report in reports:
        unit = units.get(report.unit_id)
        if unit is not None:
            was_final = UnitState(unit.state).final
            _apply(unit, report)
            if not was_final and UnitState(unit.state).final:
                ended.append(unit)
        if report.state != ObservedState.missing and (
                unit is None or UnitState(unit.state).final):
            remove.append(report.unit_id)
    stops = outcomes.units_ended(session, settings, ended)
    session.commit()
    for unit_id in remove:
        dispatcher.stop_unit(host.name, unit_id)
    workloads.send_stops(dispatcher, stops)
    return bool(ended)


def report(session: Session, settings: Settings, dispatcher: Dispatcher, host: Host,
           body: UnitReport) -> None:
    if _apply_reports(session, settings, dispatcher, host, [body]):
        scheduling.run_pass(session, settings, dispatcher)


def _seen(host: Host, gpus: list[protocol.GpuInfo]) -> None:
    host.gpus = [g.model_dump(mode="json") for g in gpus]
    host.last_seen_at = utcnow()


def register(session: Session, settings: Settings, dispatcher: Dispatcher, host: Host,
             body: protocol.AgentRegister) -> protocol.AgentRegistered:
    """An agent (re)starting lists every unit its runtime holds, before it takes any
    command: units of this host that it does not list are not there. Those being started
    get their start again (it is idempotent: the agent may have died before acting);
    the others have ended while no agent watched."""
    host.runtime = body.runtime
    host.address = body.address
    host.agent_version = body.version
    host.registered_at = utcnow()
    _seen(host, body.gpus)
    listed = {report.unit_id for report in body.units}
    unlisted = session.scalars(select(Unit).where(
        Unit.host_id == host.id, Unit.state.not_in(FINAL_UNIT_STATES),
        Unit.id.not_in(listed) if listed else true())).all()
    restart = [u for u in unlisted if u.state in _WAITING]
    gone = [UnitReport(unit_id=u.id, state=ObservedState.missing)
            for u in unlisted if u.state not in _WAITING]
    _apply_reports(session, settings, dispatcher, host, [*body.units, *gone])
    for unit in restart:
        dispatcher.start_unit(host.name, protocol.UnitSpec.model_validate(unit.spec))
    scheduling.run_pass(session, settings, dispatcher)  # its GPUs may be new, or back
    return protocol.AgentRegistered(
        host_id=host.id, name=host.name, queue=protocol.host_queue(host.name),
        broker_url=settings.broker_url_for_agents, heartbeat_seconds=settings.heartbeat_seconds)


def heartbeat(session: Session, settings: Settings, dispatcher: Dispatcher, host: Host,
              body: protocol.AgentHeartbeat) -> None:
    back = host.status(utcnow(), settings.host_offline_seconds) != HostStatus.online
    _seen(host, body.gpus)
    ended = _apply_reports(session, settings, dispatcher, host, body.units)
    if ended or back:  # GPUs freed, or the host's GPUs count again
        scheduling.run_pass(session, settings, dispatcher)


def ship_logs(session: Session, store: LogStore, host: Host, unit_id: str,
              body: protocol.UnitLogLines) -> protocol.UnitLogAck:
    unit = session.get(Unit, unit_id)
    if unit is None or unit.host_id != host.id:
        raise NotFound(f"no unit {unit_id} on host {host.name}", reason="unit_not_found")
    unit.log_lines = store.append(unit.id, unit.log_lines, body.offset, body.lines)
    session.commit()
    return protocol.UnitLogAck(next_offset=unit.log_lines)
