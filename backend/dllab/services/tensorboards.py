"""A job's TensorBoard: started on demand over the job's logs folder, as a unit of a
workload of its own (so it outlives the job, and shows the finished run), reached through
the edge proxy at ``/tensorboard/jobs/<id>/`` behind the console's login (Traefik asks
``authorize`` first, with the browser's cookies), and stopped once nobody has opened it
for ``tensorboard_idle_minutes``.

The route is written when its status is read and TensorBoard answers, and removed when it
has ended: the console polls the status while it waits, so TensorBoard is routed within
one poll of serving.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from dllab import edge
from dllab.config import Settings
from dllab.db.models import Host, Job, Unit, User, Workload
from dllab.db.models.base import utcnow
from dllab.dispatch import Dispatcher
from dllab.protocol import FINAL_UNIT_STATES, RuntimeKind, UnitSpec, UnitState
from dllab.schemas.jobs import ARTIFACTS_PATH, TensorBoardPublic, TensorBoardState
from dllab.services import artifacts, scheduling, workloads
from dllab.services.units import stop_unit
from dllab.services.workloads import UnitTemplate

KIND = "tensorboard"
PORT = 6006
USED_EVERY = timedelta(seconds=60)  # how often a browser's use is written down


def prefix(job: Job) -> str:
    return f"/tensorboard/jobs/{job.id}"


def current_unit(session: Session, job: Job) -> Unit | None:
    if job.tensorboard_workload_id is None:
        return None
    workload = session.get(Workload, job.tensorboard_workload_id)
    return None if workload is None else next(iter(workloads.current_gang(session, workload)),
                                              None)


def start(session: Session, settings: Settings, dispatcher: Dispatcher, job: Job) -> None:
    """Start it unless it is starting or running already."""
    unit = current_unit(session, job)
    if unit is not None and not UnitState(unit.state).final:
        return
    owner = session.get(User, job.owner_id)
    assert owner is not None
    mounts, env = artifacts.store(settings).replica(job.id, None, read_only=True)
    spec = UnitSpec(
        unit_id="-", name="-", image=job.spec["image"], runtime=RuntimeKind.docker,
        command=["tensorboard", "--logdir", f"{ARTIFACTS_PATH}/logs", "--bind_all",
                 "--port", str(PORT), "--path_prefix", prefix(job), "--reload_interval", "5"],
        ports=[PORT], mounts=mounts, env=env)
    workload, _ = workloads.submit(session, owner, KIND, f"{job.name}-tensorboard",
                                   [UnitTemplate(f"{job.name}-tensorboard", 0, spec)])
    job.tensorboard_workload_id, job.tensorboard_used_at = workload.id, utcnow()
    session.commit()
    scheduling.run_pass(session, settings, dispatcher)


def status(session: Session, settings: Settings, job: Job) -> TensorBoardPublic:
    """Where it is; routes it when it runs, unroutes it when it has ended."""
    unit = current_unit(session, job)
    name = f"tensorboard-{job.id}"
    if unit is None or UnitState(unit.state).final:
        edge.remove_unit_route(settings, name)
        state = TensorBoardState.stopped if unit is None or unit.state in (
            UnitState.stopped, UnitState.exited) else TensorBoardState.failed
        return TensorBoardPublic(state=state, url=None, reason=unit.error if unit else None)
    if unit.state == UnitState.stopping:
        edge.remove_unit_route(settings, name)
        return TensorBoardPublic(state=TensorBoardState.stopping, url=None, reason=None)
    if unit.state != UnitState.running or str(PORT) not in unit.ports:
        return TensorBoardPublic(state=TensorBoardState.starting, url=None, reason=None)
    host = session.get(Host, unit.host_id)
    assert host is not None
    address = f"http://{host.address}:{unit.ports[str(PORT)]}"
    if not _answers(f"{address}{prefix(job)}/"):
        return TensorBoardPublic(state=TensorBoardState.starting, url=None,
                                 reason="TensorBoard is loading its logs")
    edge.write_unit_route(settings, name, prefix(job), address,
                          f"{settings.internal_url}/api/v1/jobs/{job.id}/tensorboard/auth")
    return TensorBoardPublic(state=TensorBoardState.running,
                             url=f"{settings.public_edge_url}{prefix(job)}/", reason=None)


def _answers(url: str) -> bool:
    """Running is not yet serving: it is routed once it answers."""
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def stop(session: Session, settings: Settings, dispatcher: Dispatcher, job: Job) -> None:
    # Unrouted first: Traefik drops the route in milliseconds, before the agent gets the
    # stop, so no request is sent to a TensorBoard that dies while answering it.
    edge.remove_unit_route(settings, f"tensorboard-{job.id}")
    unit = current_unit(session, job)
    if unit is not None and not UnitState(unit.state).final:
        owner = session.get(User, job.owner_id)
        assert owner is not None
        stop_unit(session, settings, dispatcher, owner, unit.id)


def used(session: Session, job: Job) -> None:
    """A browser opened it: note it, at most once a minute."""
    now = utcnow()
    if job.tensorboard_used_at is None or now - job.tensorboard_used_at > USED_EVERY:
        job.tensorboard_used_at = now
        session.commit()


def stop_idle(session: Session, settings: Settings, dispatcher: Dispatcher) -> list[str]:
    """Stop the TensorBoards nobody has opened for ``tensorboard_idle_minutes``; return
    their jobs' ids."""
    cutoff = utcnow() - timedelta(minutes=settings.tensorboard_idle_minutes)
    alive = select(Unit.workload_id).where(Unit.kind == KIND,
                                           Unit.state.not_in(FINAL_UNIT_STATES))
    idle = session.scalars(select(Job).where(Job.tensorboard_workload_id.in_(alive),
                                             Job.tensorboard_used_at < cutoff)).all()
    for job in idle:
        stop(session, settings, dispatcher, job)
    return [job.id for job in idle]

