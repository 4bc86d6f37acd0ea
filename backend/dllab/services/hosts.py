"""GPU hosts: added by an admin (which issues the agent's token), listed with status."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dllab.config import Settings
from dllab.db.models import Host, HostStatus, Unit
from dllab.db.models.base import utcnow
from dllab.dispatch import Dispatcher
from dllab.errors import Conflict, NotAuthenticated, NotFound
from dllab.protocol import FINAL_UNIT_STATES, GpuInfo, RuntimeKind
from dllab.schemas.hosts import HostCreated, HostPublic
from dllab.security import HOST_TOKEN_PREFIX, hash_token, new_token
from dllab.services import outcomes, scheduling, workloads


def to_public(host: Host, now: datetime, settings: Settings) -> HostPublic:
    return HostPublic(
        id=host.id, name=host.name, status=host.status(now, settings.host_offline_seconds),
        runtime=RuntimeKind(host.runtime) if host.runtime else None, address=host.address,
        agent_version=host.agent_version, gpus=[GpuInfo.model_validate(g) for g in host.gpus],
        created_at=host.created_at, last_seen_at=host.last_seen_at,
    )


def add_host(session: Session, settings: Settings, name: str) -> HostCreated:
    if session.scalar(select(Host.id).where(Host.name == name)) is not None:
        raise Conflict(f"host {name!r} exists already", reason="host_exists")
    token = new_token(HOST_TOKEN_PREFIX)
    host = Host(name=name, token_hash=hash_token(token))
    session.add(host)
    try:
        session.commit()
    except IntegrityError as exc:  # added by a request racing this one
        session.rollback()
        raise Conflict(f"host {name!r} exists already", reason="host_exists") from exc
    public = to_public(host, utcnow(), settings)
    return HostCreated(**public.model_dump(), token=token,
                       # In the environment, not an argument: any local user can read a
                       # process's arguments.
                       agent_command=f"DLLAB_HOST_TOKEN={token} dllab agent "
                                     f"--server {settings.url}")


def list_hosts(session: Session, settings: Settings, offset: int,
               limit: int) -> tuple[list[HostPublic], int]:
    rows = session.scalars(select(Host).order_by(Host.name).offset(offset).limit(limit)).all()
    now = utcnow()
    return ([to_public(h, now, settings) for h in rows],
            session.scalar(select(func.count(Host.id))) or 0)


def get_host(session: Session, host_id: int) -> Host:
    host = session.get(Host, host_id)
    if host is None:
        raise NotFound(f"no host {host_id}", reason="host_not_found")
    return host


def remove_host(session: Session, settings: Settings, dispatcher: Dispatcher,
                host_id: int) -> None:
    """Remove a host. One that is online and runs units is refused: stop them first. The
    units of one that is not online go with it, lost, to their workloads' policies."""
    host = get_host(session, host_id)
    active = session.scalar(select(func.count(Unit.id)).where(
        Unit.host_id == host.id, Unit.state.not_in(FINAL_UNIT_STATES)))
    if active and host.status(utcnow(), settings.host_offline_seconds) == HostStatus.online:
        raise Conflict(f"host {host.name!r} is online and still runs {active} unit(s); stop "
                       "them first, or stop its agent and remove it once it is offline",
                       reason="host_busy")
    stops = outcomes.lose_host_units(session, settings, host, f"host {host.name} was removed")
    session.delete(host)
    session.commit()
    workloads.send_stops(dispatcher, stops)
    scheduling.run_pass(session, settings, dispatcher)


def host_for_token(session: Session, secret: str) -> Host:
    if not secret.startswith(HOST_TOKEN_PREFIX):
        raise NotAuthenticated("agents authenticate with a host token (dllab host add)",
                               reason="not_a_host_token")
    host = session.scalar(select(Host).where(Host.token_hash == hash_token(secret)))
    if host is None:
        raise NotAuthenticated("unknown host token; was the host removed?", reason="bad_token")
    return host


def ensure_host_token(session: Session, settings: Settings, name: str,
                      known_token: str | None) -> str:
    """The token of host ``name``, adding the host or issuing a new token when the known
    one is missing or no longer valid (used for the local agent of ``dllab up``)."""
    host = session.scalar(select(Host).where(Host.name == name))
    if host is None:
        return add_host(session, settings, name).token
    if known_token and host.token_hash == hash_token(known_token):
        return known_token
    token = new_token(HOST_TOKEN_PREFIX)
    host.token_hash = hash_token(token)
    session.commit()
    return token
