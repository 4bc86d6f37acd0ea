"""Environments: JupyterLab, TensorBoard and SSH on N GPUs, as JupyterHub named servers.

Who does what:
- the API records the environment and asks the hub to start the server (``Hub``);
- the hub's DLLab spawner calls back (``spawn``) with the hub's settings for the server;
  only then is the unit submitted to the scheduler, as a workload of kind ``environment``;
- the spawner waits on ``server_status`` for the unit's address, returns it to the hub,
  and reports the server ``ready`` once the hub routes to it.

The state users see is read from what was asked (``desired``) and the current unit; each
start is a new workload, while the workspace (a folder on the host) outlives them all.
"""

from __future__ import annotations

import uuid
from contextlib import suppress
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dllab.config import HUB_BASE_URL, Settings
from dllab.db.models import Desired, Environment, Host, Unit, User, Workload
from dllab.db.models.base import utcnow
from dllab.dispatch import Dispatcher
from dllab.errors import Conflict, NotFound, Unavailable
from dllab.protocol import RuntimeKind, UnitSpec, UnitState, Workspace
from dllab.schemas.environments import (
    WORKSPACE_PATH,
    EnvironmentCreate,
    EnvironmentPublic,
    EnvironmentState,
    EnvironmentUrls,
    Phase,
    SshAccess,
    VolumeSpec,
)
from dllab.services import owned, scheduling, submissions, workloads
from dllab.services.hub import Hub
from dllab.services.units import stop_unit, unit_gpus
from dllab.services.workloads import UnitTemplate

KIND = "environment"
JUPYTER_PORT = 8888
SSH_PORT = 2222
SSH_USER = "dev"


def get(session: Session, user: User, environment_id: str) -> Environment:
    return owned.get(session, user, Environment, environment_id, "environment")


def list_environments(session: Session, user: User, offset: int,
                      limit: int) -> tuple[list[Environment], int]:
    query = owned.visible(user, Environment)
    rows = session.scalars(query.order_by(Environment.created_at.desc(), Environment.id)
                           .offset(offset).limit(limit)).all()
    return list(rows), session.scalar(select(func.count()).select_from(query.subquery())) or 0


def create(session: Session, settings: Settings, hub: Hub, owner: User,
           body: EnvironmentCreate) -> Environment:
    """Check everything that can be checked now, record it and ask the hub to start it. A
    request the hub cannot take leaves nothing behind."""
    submissions.check_image(session, body.image)
    submissions.check_docker_host(session, "environments")
    submissions.check_gpus(session, body.gpus)
    for volume in body.volumes:
        submissions.check_volume(session, settings, owner, volume)
    if session.scalar(select(Environment.id).where(Environment.owner_id == owner.id,
                                                   Environment.name == body.name)):
        raise Conflict(f"you have an environment named {body.name} already",
                       reason="environment_exists")
    keys = body.ssh_public_keys if body.ssh_public_keys is not None else list(owner.ssh_keys)
    env = Environment(
        id=uuid.uuid4().hex, name=body.name, owner_id=owner.id, image=body.image,
        gpus=body.gpus, cpus=body.cpus, memory_mib=body.memory_mib,
        volumes=[v.model_dump() for v in body.volumes], ssh_keys=keys,
        desired=Desired.running, requested_at=utcnow())
    session.add(env)
    try:
        session.commit()
    except IntegrityError as exc:  # a request racing this one took the name
        session.rollback()
        raise Conflict(f"you have an environment named {body.name} already",
                       reason="environment_exists") from exc
    try:
        hub.start_server(owner.username, env.name)
    except Unavailable:
        session.delete(env)
        session.commit()
        raise
    return env


def start(session: Session, hub: Hub, user: User, environment_id: str) -> Environment:
    """Start a stopped or failed environment again, on its kept workspace."""
    env = get(session, user, environment_id)
    state, _ = _state(session, env, current_unit(session, env))
    if state in (EnvironmentState.queued, EnvironmentState.starting,
                 EnvironmentState.running):
        return env
    if state == EnvironmentState.stopping:
        raise Conflict("it is still stopping; start it once it has stopped",
                       reason="environment_stopping")
    before = env.workload_id, env.stop_reason
    env.desired, env.requested_at = Desired.running, utcnow()
    env.ready_at = env.stop_reason = env.workload_id = env.idle_warning = None
    owner = session.get(User, env.owner_id)
    assert owner is not None
    session.commit()
    try:
        hub.start_server(owner.username, env.name)
    except Unavailable:  # not started: as it was, so that it can simply be asked again
        env.desired, (env.workload_id, env.stop_reason) = Desired.stopped, before
        session.commit()
        raise
    return env


def stop(session: Session, settings: Settings, dispatcher: Dispatcher, hub: Hub, user: User,
         environment_id: str, reason: str | None = None) -> Environment:
    """Stop its unit (the workspace stays) and tell the hub, which forgets the route."""
    env = get(session, user, environment_id)
    env.desired, env.stop_reason, env.idle_warning = Desired.stopped, reason, None
    session.commit()
    _stop_unit(session, settings, dispatcher, env)
    owner = session.get(User, env.owner_id)
    assert owner is not None
    session.commit()  # hold no snapshot while the hub calls back (a stale one cannot write)
    with suppress(Unavailable):  # the unit is stopped; the hub's own poll finds it gone
        hub.stop_server(owner.username, env.name)
    return env


def delete(session: Session, settings: Settings, dispatcher: Dispatcher, hub: Hub, user: User,
           environment_id: str) -> None:
    """Stop it, forget its server in the hub and remove its workspace from its host."""
    env = get(session, user, environment_id)
    _stop_unit(session, settings, dispatcher, env)
    owner = session.get(User, env.owner_id)
    assert owner is not None
    host = _last_host(session, env)
    session.commit()  # hold no snapshot while the hub calls back (a stale one cannot write)
    hub.stop_server(owner.username, env.name, remove=True)
    session.delete(env)
    session.commit()
    if host is not None:
        with suppress(Unavailable):  # the record is gone; an admin may remove the folder
            dispatcher.remove_workspace(host.name, env.id)


# --- called by JupyterHub's DLLab spawner -------------------------------------------------

def for_server(session: Session, username: str, server: str) -> Environment:
    env = session.scalar(select(Environment).join(User, User.id == Environment.owner_id)
                         .where(User.username == username, Environment.name == server))
    if env is None:
        raise NotFound(f"no environment {server} of {username}", reason="environment_not_found")
    return env


def spawn(session: Session, settings: Settings, dispatcher: Dispatcher, env: Environment,
          hub_env: dict[str, str]) -> None:
    """Submit the environment's unit with the settings the hub made for this server (its
    API token, URLs). Asked twice for one start, it submits once."""
    if env.desired != Desired.running:
        raise Conflict(f"environment {env.name} is stopped; start it first",
                       reason="environment_stopped")
    unit = current_unit(session, env)
    if unit is not None and not UnitState(unit.state).final:
        return
    owner = session.get(User, env.owner_id)
    assert owner is not None
    spec = UnitSpec(
        unit_id="-", name="-", image=env.image, runtime=RuntimeKind.docker,
        command=["jupyterhub-singleuser"],
        working_dir=WORKSPACE_PATH, cpus=env.cpus, memory_mib=env.memory_mib,
        ports=[JUPYTER_PORT, SSH_PORT],
        env={**hub_env, "DLLAB_SSH_KEYS": "\n".join(env.ssh_keys),
             "DLLAB_SSH_PORT": str(SSH_PORT), "DLLAB_TENSORBOARD_LOGDIR": f"{WORKSPACE_PATH}/logs",
             "DLLAB_ENVIRONMENT": env.name,
             # Often enough that idle culling sees use well within its limit.
             "JUPYTERHUB_ACTIVITY_INTERVAL": str(settings.activity_seconds),
             "DLLAB_ACTIVITY_SECONDS": str(settings.activity_seconds)},
        mounts=submissions.host_mounts(env.volumes),
        workspace=Workspace(id=env.id, target=WORKSPACE_PATH))
    s3 = submissions.s3_volumes(session, settings, owner, env.volumes)
    if s3:
        spec.env["DLLAB_S3_VOLUMES"] = s3
    workload, _ = workloads.submit(session, owner, KIND, env.name,
                                   [UnitTemplate(env.name, env.gpus, spec)])
    env.workload_id, env.ready_at = workload.id, None
    session.commit()
    scheduling.run_pass(session, settings, dispatcher)


def server_status(session: Session, env: Environment) -> dict[str, object]:
    """What the spawner waits on: the unit's address once it runs, or why it never will."""
    unit = current_unit(session, env)
    state, reason = _state(session, env, unit)
    url = None
    if unit is not None and unit.state == UnitState.running and str(JUPYTER_PORT) in unit.ports:
        host = session.get(Host, unit.host_id)
        assert host is not None
        url = f"http://{host.address}:{unit.ports[str(JUPYTER_PORT)]}"
    alive = unit is not None and not UnitState(unit.state).final
    return {"state": state, "reason": reason, "url": url, "alive": alive}


def mark_ready(session: Session, env: Environment) -> None:
    if env.ready_at is None and env.desired == Desired.running:
        env.ready_at = utcnow()
        session.commit()


def hub_stopped(session: Session, settings: Settings, dispatcher: Dispatcher, env: Environment,
                reason: str | None) -> None:
    """The hub stopped the server (asked to, or it gave up on it): stop the unit. A unit
    that has ended already keeps its own account of why."""
    unit = current_unit(session, env)
    if unit is not None and UnitState(unit.state) in (UnitState.failed, UnitState.lost):
        return
    if env.desired == Desired.running:
        env.desired, env.stop_reason = Desired.stopped, reason or "stopped by JupyterHub"
        session.commit()
    _stop_unit(session, settings, dispatcher, env)


# --- shown to users --------------------------------------------------------------------------

def current_unit(session: Session, env: Environment) -> Unit | None:
    if env.workload_id is None:
        return None
    workload = session.get(Workload, env.workload_id)
    if workload is None:
        return None
    return session.scalar(select(Unit).where(Unit.workload_id == workload.id,
                                             Unit.attempt == workload.attempt))


def to_public(session: Session, settings: Settings, env: Environment) -> EnvironmentPublic:
    owner = session.get(User, env.owner_id)
    assert owner is not None
    unit = current_unit(session, env)
    state, reason = _state(session, env, unit)
    host = session.get(Host, unit.host_id) if unit is not None and unit.host_id else None
    workload = session.get(Workload, env.workload_id) if env.workload_id else None
    devices = [] if unit is None or unit.state != UnitState.running else unit_gpus(host, unit)
    urls = ssh = None
    if state == EnvironmentState.running:
        base = f"{settings.public_edge_url}{HUB_BASE_URL}user/{owner.username}/{env.name}/"
        urls = EnvironmentUrls(jupyter=base + "lab",
                               tensorboard=base + "tensorboard/")
        port = unit.ports.get(str(SSH_PORT)) if unit is not None else None
        if env.ssh_keys and host is not None and port:
            ssh = SshAccess(host=host.address, port=port, user=SSH_USER,
                            command=f"ssh -p {port} {SSH_USER}@{host.address}")
    return EnvironmentPublic(
        id=env.id, name=env.name, owner=owner.username, image=env.image, gpus=env.gpus,
        cpus=env.cpus, memory_mib=env.memory_mib,
        volumes=[VolumeSpec.model_validate(v) for v in env.volumes],
        ssh_key_count=len(env.ssh_keys), state=state, reason=reason,
        position=workload.position if workload and state == EnvironmentState.queued else None,
        host=host.name if host else None, devices=devices, unit=unit.id if unit else None,
        phases=_phases(env, unit), urls=urls, ssh=ssh, idle_warning=env.idle_warning,
        created_at=env.created_at)


def _state(session: Session, env: Environment,
           unit: Unit | None) -> tuple[EnvironmentState, str | None]:
    """What users see, from what was asked of ``env`` and its current ``unit``."""
    live = unit is not None and not UnitState(unit.state).final
    if env.desired == Desired.stopped:
        if live:
            return EnvironmentState.stopping, env.stop_reason
        if unit is not None and unit.state in (UnitState.failed, UnitState.lost):
            return EnvironmentState.failed, unit.error
        return EnvironmentState.stopped, env.stop_reason
    if unit is None:
        return EnvironmentState.queued, "waiting for JupyterHub to ask for it"
    match UnitState(unit.state):
        case UnitState.queued:
            workload = session.get(Workload, unit.workload_id)
            return EnvironmentState.queued, workload.reason if workload else None
        case UnitState.starting:
            return EnvironmentState.starting, None
        case UnitState.running:
            if env.ready_at is None:
                return EnvironmentState.starting, "JupyterLab is starting"
            return EnvironmentState.running, None
        case UnitState.stopping:
            return EnvironmentState.stopping, None
        case UnitState.stopped:
            return EnvironmentState.stopped, env.stop_reason
        case _:
            why = unit.error or (f"exited with code {unit.exit_code}"
                                 if unit.exit_code is not None else "it ended")
            return EnvironmentState.failed, why


def _phases(env: Environment, unit: Unit | None) -> list[Phase]:
    times: list[tuple[str, datetime | None]] = [
        ("requested", env.requested_at),
        ("created", unit.created_at if unit else None),
        ("scheduled", unit.placed_at if unit else None),
        ("started", unit.started_at if unit else None),
        ("ready", env.ready_at),
    ]
    phases, before = [], None
    for name, at in times:
        seconds = (at - before).total_seconds() if at and before else None
        phases.append(Phase(name=name, at=at, seconds=seconds))
        before = at or before
    return phases


def _stop_unit(session: Session, settings: Settings, dispatcher: Dispatcher,
               env: Environment) -> None:
    unit = current_unit(session, env)
    if unit is not None and not UnitState(unit.state).final:
        owner = session.get(User, env.owner_id)
        assert owner is not None
        stop_unit(session, settings, dispatcher, owner, unit.id)


def _last_host(session: Session, env: Environment) -> Host | None:
    unit = current_unit(session, env)
    return session.get(Host, unit.host_id) if unit is not None and unit.host_id else None


def stop_idle(session: Session, settings: Settings, dispatcher: Dispatcher, hub: Hub) -> list[str]:
    """Stop the running environments nobody has used for ``environment_idle_minutes``
    (their workspaces kept, the reason shown); return their ids."""
    limit = timedelta(minutes=settings.environment_idle_minutes)
    running = session.execute(
        select(Environment, User.username).join(User, User.id == Environment.owner_id)
        .where(Environment.desired == Desired.running, Environment.ready_at.is_not(None))).all()
    if not limit or not running:
        return []
    activity = hub.last_activity()
    now, stopped = utcnow(), []
    for env, username in running:
        last = max(filter(None, (env.ready_at, activity.get((username, env.name)))))
        if now - last > limit:
            owner = session.get(User, env.owner_id)
            assert owner is not None
            stop(session, settings, dispatcher, hub, owner, env.id, reason=(
                f"stopped after {settings.environment_idle_minutes:g} min without use (no "
                "kernel at work, no terminal or notebook use, no SSH session); its "
                "workspace is kept: start it again"))
            stopped.append(env.id)
    return stopped
