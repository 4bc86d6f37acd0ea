"""Reclaiming idle GPUs: the admin policy that stops environments whose GPUs stay idle.

An environment whose every GPU has stayed under 5% utilization for ``idle_seconds`` is
stopped, its workspace kept, and the stop recorded as a reclaim. ``warn_seconds`` before
that its owner is warned: the environment carries the warning (its page and the API show
it) until its GPUs work again or it stops. Idleness is read from the book of readings, so
a control plane that restarts starts counting again: it never stops work early.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dllab.config import Settings
from dllab.db.models import Desired, Environment, Policy, Reclaim, User
from dllab.db.models.base import utcnow
from dllab.dispatch import Dispatcher
from dllab.errors import BadRequest
from dllab.monitoring.book import BUSY_PCT, GpuBook
from dllab.schemas.metrics import ReclaimPolicy, ReclaimPublic, Reclaims
from dllab.services import environments, owned
from dllab.services.hub import Hub

POLICY = "idle-gpus"


def policy(session: Session) -> ReclaimPolicy:
    row = session.get(Policy, POLICY)
    return ReclaimPolicy.model_validate(row.value) if row else ReclaimPolicy()


def set_policy(session: Session, body: ReclaimPolicy) -> ReclaimPolicy:
    if body.warn_seconds >= body.idle_seconds:
        raise BadRequest(f"warn_seconds ({body.warn_seconds:g}) must be less than "
                         f"idle_seconds ({body.idle_seconds:g}): the warning comes first")
    row = session.get(Policy, POLICY) or Policy(name=POLICY, value={})
    row.value, row.updated_at = body.model_dump(mode="json"), utcnow()
    session.add(row)
    session.commit()
    return body


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def run(session: Session, settings: Settings, dispatcher: Dispatcher, hub: Hub, book: GpuBook,
        now: float | None = None) -> list[str]:
    """Warn about, or stop, the environments idle past the policy; return those stopped."""
    now = time.time() if now is None else now
    _note_resumed(session)
    rules = policy(session)
    running = session.scalars(select(Environment).where(
        Environment.desired == Desired.running, Environment.gpus > 0,
        Environment.ready_at.is_not(None), Environment.workload_id.is_not(None))).all()
    book.forget_workloads({env.workload_id for env in running if env.workload_id})
    stopped = []
    for env in running:
        assert env.workload_id is not None and env.ready_at is not None
        since = book.idle_since(env.workload_id)
        idle = 0.0 if since is None else now - max(since, env.ready_at.timestamp())
        if not rules.enabled or idle < rules.idle_seconds - rules.warn_seconds:
            if env.idle_warning is not None:
                env.idle_warning = None
                session.commit()
            continue
        if idle < rules.idle_seconds:
            if env.idle_warning is None:
                at = datetime.fromtimestamp(now + rules.idle_seconds - idle, UTC)
                env.idle_warning = (
                    f"its GPUs have been idle (under {BUSY_PCT}% use) for {_minutes(idle)}: "
                    f"it will be stopped at {at:%H:%M:%S} UTC unless they work again; its "
                    "workspace is kept")
                session.commit()
            continue
        owner = session.get(User, env.owner_id)
        assert owner is not None
        session.add(Reclaim(environment_id=env.id, owner_id=env.owner_id, gpus=env.gpus,
                            idle_seconds=idle))
        environments.stop(session, settings, dispatcher, hub, owner, env.id, reason=(
            f"stopped by the idle-GPU policy: its {env.gpus} GPU(s) stayed idle for "
            f"{_minutes(idle)}; its workspace is kept: start it again"))
        stopped.append(env.id)
    return stopped


def _note_resumed(session: Session) -> None:
    """A reclaimed environment started again holds its GPUs again from then."""
    open_ones = session.execute(select(Reclaim, Environment).join(
        Environment, Environment.id == Reclaim.environment_id).where(
        Reclaim.resumed_at.is_(None), Environment.desired == Desired.running)).all()
    for reclaim, env in open_ones:
        if env.requested_at > reclaim.reclaimed_at:
            reclaim.resumed_at = env.requested_at
    if open_ones:
        session.commit()


def reclaims(session: Session, user: User, offset: int, limit: int) -> Reclaims:
    """Reclaims, newest first (a user's own; an admin's: all), and their GPU-hours."""
    query = owned.scope(select(Reclaim, Environment.name, User.username).join(
        Environment, Environment.id == Reclaim.environment_id).join(
        User, User.id == Reclaim.owner_id), user, Reclaim)
    now = utcnow()
    every = session.execute(query.order_by(Reclaim.reclaimed_at.desc(), Reclaim.id)).all()
    rows = [ReclaimPublic(
        environment=r.environment_id, environment_name=name, owner=owner, gpus=r.gpus,
        idle_seconds=r.idle_seconds, reclaimed_at=r.reclaimed_at, resumed_at=r.resumed_at,
        gpu_hours=round(r.gpus * ((r.resumed_at or now) - r.reclaimed_at).total_seconds()
                        / 3600, 3))
        for r, name, owner in every]
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return Reclaims(data=rows[offset:offset + limit], count=count,
                    gpu_hours_reclaimed=round(sum(r.gpu_hours for r in rows), 3))
