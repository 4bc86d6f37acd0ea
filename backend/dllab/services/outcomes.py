"""What becomes of workloads whose units end, the one place their rules are applied:
a job's own (``jobs.settle``: success, gang restart from a checkpoint, failure), and for
every other kind the policy for lost units (``workloads.handle_lost``). Units end when an
agent reports it, when their host is declared dead, or when it is removed.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dllab.config import Settings
from dllab.db.models import Host, Unit
from dllab.db.models.base import utcnow
from dllab.dispatch import Dispatcher
from dllab.jobs.cluster import KIND as JOB
from dllab.protocol import FINAL_UNIT_STATES, UnitState
from dllab.services import jobs, scheduling, workloads
from dllab.services.workloads import Stops, lose, send_stops


def units_ended(session: Session, settings: Settings, ended: list[Unit]) -> Stops:
    """Apply the rules of the workloads of ``ended`` units; the caller commits, then sends
    the stops."""
    stops = jobs.settle(session, settings, [u for u in ended if u.kind == JOB])
    lost = [u for u in ended if u.kind != JOB and u.state == UnitState.lost]
    return stops + workloads.handle_lost(session, lost)


def lose_host_units(session: Session, settings: Settings, host: Host, why: str) -> Stops:
    """Every unit still on ``host`` is gone with it; their workloads' rules apply."""
    units = session.scalars(select(Unit).where(
        Unit.host_id == host.id, Unit.state.not_in(FINAL_UNIT_STATES))).all()
    return units_ended(session, settings, [u for u in units if lose(u, why)])


def declare_dead_hosts(session: Session, settings: Settings, dispatcher: Dispatcher) -> None:
    """Hosts offline for ``host_dead_seconds`` lose their units; until then those units keep
    their GPUs, as the host may come back with them still running."""
    cutoff = utcnow() - timedelta(seconds=settings.host_dead_seconds)
    busy = select(Unit.host_id).where(Unit.state.not_in(FINAL_UNIT_STATES))
    dead = session.scalars(select(Host).where(Host.last_seen_at < cutoff, Host.id.in_(busy)))
    stops: Stops = []
    for host in dead.all():
        stops += lose_host_units(session, settings, host,
                                 f"host {host.name} declared dead: silent for "
                                 f"{settings.host_dead_seconds:g} s")
    session.commit()
    send_stops(dispatcher, stops)


def tick(sessions: sessionmaker[Session], settings: Settings, dispatcher: Dispatcher) -> None:
    """The scheduler's own round, every ``scheduler_seconds``: dead hosts, then a pass."""
    with sessions() as session:
        declare_dead_hosts(session, settings, dispatcher)
        scheduling.run_pass(session, settings, dispatcher)
