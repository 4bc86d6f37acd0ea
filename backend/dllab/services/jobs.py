"""Distributed training jobs: one workload of kind ``job``, a unit per replica.

Who does what:
- ``submit`` checks the request, makes the job's folders in the artifact store and queues
  every replica as one gang; the scheduler places all of them at once or none, and then
  tells each its TF_CONFIG (``dllab.jobs.cluster``);
- ``settle`` applies a job's rules as its units end (called by ``outcomes``): the leader
  (the chief, or worker 0 without one) exiting 0 ends the job well and stops the rest (the
  parameter servers never exit by themselves); a replica that fails or is lost restarts the
  whole gang from the newest checkpoint, up to ``max_restarts``, unless its last log lines
  match a not-retryable pattern;
- ``cancel`` stops every replica.

The status users see is ``outcome`` once the job has ended, and otherwise read from the
units of the workload's current attempt.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dllab.config import Settings
from dllab.db.models import Host, Job, JobOutcome, LostPolicy, Unit, User, Workload
from dllab.db.models.base import utcnow
from dllab.dispatch import Dispatcher
from dllab.errors import Forbidden, NotFound, Unavailable
from dllab.jobs import cluster
from dllab.jobs.tf_config import Role
from dllab.protocol import Mount, RuntimeKind, UnitSpec, UnitState
from dllab.schemas.jobs import (
    ARTIFACTS_PATH,
    CODE_PATH,
    JobCreate,
    JobPublic,
    JobStatus,
    Phase,
    ReplicaPublic,
    Restart,
)
from dllab.services import artifacts, code_uploads, owned, scheduling, submissions, workloads
from dllab.services.logs import LogStore
from dllab.services.units import unit_gpus
from dllab.services.workloads import Stops, UnitTemplate

KIND = cluster.KIND
ROLE_ORDER = (Role.chief, Role.worker, Role.ps, Role.evaluator)  # units' order in the gang
LOG_LINES_JUDGED = 200  # a failed replica's last lines, matched against not_retryable


def get(session: Session, user: User, job_id: str) -> Job:
    return owned.get(session, user, Job, job_id, "job")


def list_jobs(session: Session, user: User, offset: int, limit: int,
              status: JobStatus | None = None, owner: str | None = None) -> tuple[list[Job], int]:
    """Newest first. Ended jobs are filtered in the database; live ones (few) by the status
    read from their units."""
    query = owned.visible(user, Job)
    if owner is not None:
        query = query.join(User, User.id == Job.owner_id).where(User.username == owner)
    if status is not None and status.value in JobOutcome.__members__:
        query = query.where(Job.outcome == status.value)
    elif status is not None:
        query = query.where(Job.outcome.is_(None))
        live = [j for j in session.scalars(query.order_by(Job.created_at.desc(), Job.id))
                if job_status(session, j)[0] == status]
        return live[offset:offset + limit], len(live)
    rows = session.scalars(query.order_by(Job.created_at.desc(), Job.id)
                           .offset(offset).limit(limit)).all()
    return list(rows), session.scalar(select(func.count()).select_from(query.subquery())) or 0


def replica_names(body: JobCreate) -> list[tuple[Role, int]]:
    """Every replica, in the gang's order: the leader (chief, else worker 0) first."""
    counts = body.replicas.counts()
    return [(role, i) for role in ROLE_ORDER for i in range(counts.get(role, 0))]


def submit(session: Session, settings: Settings, dispatcher: Dispatcher, owner: User,
           body: JobCreate) -> Job:
    """Check everything that can be checked now, then queue every replica as one gang. A
    refused request leaves nothing behind."""
    if body.priority > 0 and not owner.is_admin:
        raise Forbidden("only an admin may give a priority above 0", reason="priority")
    submissions.check_image(session, body.image)
    submissions.check_docker_host(session, "jobs")
    for role in ROLE_ORDER:
        if (spec := body.replicas.of(role)) is not None:
            submissions.check_gpus(session, spec.gpus, each=f" for each {role}")
    for volume in body.volumes:
        submissions.check_volume(session, settings, owner, volume)
    upload, code_path = _code(settings, owner, body)
    s3 = submissions.s3_volumes(session, settings, owner,
                                [v.model_dump() for v in body.volumes])

    job_id = uuid.uuid4().hex
    store = artifacts.store(settings)
    try:
        store.prepare(job_id)
        mounts, env = store.replica(job_id, upload)
        if code_path is not None:
            mounts.append(Mount(source=str(code_path), target=CODE_PATH, read_only=True))
        templates = _templates(job_id, body, mounts, env, s3,
                               has_code=upload is not None or code_path is not None)
        workload, _ = workloads.submit(
            session, owner, KIND, body.name, templates, priority=body.priority,
            on_lost=LostPolicy.restart, max_restarts=body.max_restarts)
        job = Job(id=job_id, name=body.name, owner_id=owner.id, workload_id=workload.id,
                  spec=body.model_dump(mode="json"), restarts=[], created_at=utcnow())
        session.add(job)
        session.commit()
    except BaseException:
        session.rollback()
        store.forget(job_id)
        raise
    scheduling.run_pass(session, settings, dispatcher)
    return job


def _code(settings: Settings, owner: User, body: JobCreate) -> tuple[Path | None, Path | None]:
    """The job's code: an upload (a folder the store hands to replicas) or a host path."""
    if body.code is None:
        return None, None
    if body.code.upload is not None:
        return code_uploads.folder(settings, owner, body.code.upload), None
    assert body.code.path is not None
    submissions.check_host_path(settings, body.code.path, "code path")
    return None, Path(body.code.path)


def _templates(job_id: str, body: JobCreate, mounts: list[Mount], store_env: dict[str, str],
               s3: str | None, has_code: bool) -> list[UnitTemplate]:
    mounts = [*mounts, *submissions.host_mounts([v.model_dump() for v in body.volumes])]
    working_dir = body.working_dir or (CODE_PATH if has_code else None)
    templates = []
    for role, index in replica_names(body):
        replica = body.replicas.of(role)
        assert replica is not None
        env = {
            **body.env,
            **store_env,
            "PYTHONUNBUFFERED": "1",  # lines reach the log as they are printed
            "DLLAB_JOB_ID": job_id,
            "DLLAB_JOB_NAME": body.name,
            cluster.STRATEGY_ENV: body.strategy.value,
            cluster.ROLE_ENV: role.value,
            cluster.INDEX_ENV: str(index),
            "DLLAB_CHECKPOINT_DIR": f"{ARTIFACTS_PATH}/checkpoints",
            "DLLAB_CHECKPOINT_EVERY_STEPS": str(body.checkpoint.every_steps),
            "DLLAB_LOG_DIR": f"{ARTIFACTS_PATH}/logs",
            "DLLAB_OUTPUT_DIR": f"{ARTIFACTS_PATH}/output",
        }
        if s3:
            env["DLLAB_S3_VOLUMES"] = s3
        spec = UnitSpec(
            unit_id="-", name="-", image=body.image, runtime=RuntimeKind.docker,
            command=body.command, env=env, working_dir=working_dir, cpus=replica.cpus,
            memory_mib=replica.memory_mib, host_port=0, mounts=mounts)
        templates.append(UnitTemplate(f"{body.name}-{role}-{index}", replica.gpus, spec))
    return templates


def cancel(session: Session, settings: Settings, dispatcher: Dispatcher, user: User,
           job_id: str) -> Job:
    """Stop every replica (queued ones leave the queue at once); an ended job is left as
    it is."""
    job = get(session, user, job_id)
    with scheduling.exclusive(session):  # a pass may be placing its units
        stops: Stops = []
        if job.outcome is None:
            workload = session.get(Workload, job.workload_id)
            assert workload is not None
            _end(job, JobOutcome.cancelled, f"cancelled by {user.username}")
            stops = workloads.stop_gang(session, workloads.current_gang(session, workload),
                                        "stopped: the job was cancelled")
            workload.position = workload.reason = workload.reserved_on = None
        session.commit()
    workloads.send_stops(dispatcher, stops)
    scheduling.run_pass(session, settings, dispatcher)
    return job


def _end(job: Job, outcome: JobOutcome, reason: str | None) -> None:
    job.outcome, job.reason, job.finished_at = outcome, reason, utcnow()


# --- its rules, as its units end ---------------------------------------------------------

def settle(session: Session, settings: Settings, ended: list[Unit]) -> Stops:
    """Apply each job's rules to its ``ended`` units; the caller commits, then sends the
    stops."""
    stops: Stops = []
    for workload_id in dict.fromkeys(u.workload_id for u in ended):
        job = session.scalar(select(Job).where(Job.workload_id == workload_id))
        workload = session.get(Workload, workload_id)
        if job is None or workload is None or job.outcome is not None:
            continue
        mine = [u for u in ended if u.workload_id == workload_id
                and u.attempt == workload.attempt]
        failed = [u for u in mine if u.state in (UnitState.failed, UnitState.lost)]
        if failed:
            stops += _replica_failed(session, settings, job, workload, failed[0])
        elif any(u.index == 0 and u.state == UnitState.exited for u in mine):
            _end(job, JobOutcome.succeeded, None)
            stops += workloads.stop_gang(session, workloads.current_gang(session, workload),
                                         "stopped: the job succeeded")
    return stops


def _replica_failed(session: Session, settings: Settings, job: Job, workload: Workload,
                    unit: Unit) -> Stops:
    gang = workloads.current_gang(session, workload)
    what = unit.error or f"exited with code {unit.exit_code}"
    why = f"replica {_replica_name(unit)} failed: {what}"
    stops = workloads.stop_gang(session, gang, f"stopped: replica {_replica_name(unit)} failed")
    pattern = _not_retryable(settings, job, unit)
    if pattern is not None:
        _end(job, JobOutcome.failed, f"{why}; not retried: its log matches {pattern!r}")
    elif workload.restarts >= workload.max_restarts:
        _end(job, JobOutcome.failed,
             f"{why}; no restarts left ({workload.restarts} of {workload.max_restarts} used)")
    else:
        workloads.requeue(session, workload, gang)
        try:
            step = artifacts.store(settings).newest_step(job.id)
        except Unavailable:  # the restart goes on; only its record lacks the step
            step = None
        job.restarts = [*job.restarts, {"attempt": workload.attempt, "reason": why,
                                        "resumed_from_step": step, "at": utcnow().isoformat()}]
    return stops


def _not_retryable(settings: Settings, job: Job, unit: Unit) -> str | None:
    """The first not-retryable pattern that the unit's error or last log lines match."""
    patterns = job.spec.get("not_retryable") or []
    if not patterns:
        return None
    text = "\n".join([unit.error or "", *LogStore(settings.unit_logs_dir).read(
        unit.id, tail=LOG_LINES_JUDGED)])
    return next((p for p in patterns if re.search(p, text)), None)


# --- shown to users --------------------------------------------------------------------------

def _replica_name(unit: Unit) -> str:
    role, index = cluster.replica_of(UnitSpec.model_validate(unit.spec))
    return f"{role}-{index}"


def replica_unit(session: Session, job: Job, replica: str | None,
                 attempt: int | None) -> Unit:
    """The unit of ``replica`` ("worker-1"; default the leader) in ``attempt`` (default the
    current one)."""
    workload = session.get(Workload, job.workload_id)
    assert workload is not None
    attempt = attempt or workload.attempt
    units = session.scalars(select(Unit).where(Unit.workload_id == workload.id,
                                               Unit.attempt == attempt)
                            .order_by(Unit.index)).all()
    for unit in units:
        if replica is None or _replica_name(unit) == replica:
            return unit
    names = ", ".join(_replica_name(u) for u in units)
    raise NotFound(f"job {job.name} has no replica {replica} in attempt {attempt}"
                   + (f" (it has {names})" if names else ""), reason="replica_not_found")


def job_status(session: Session, job: Job,
               gang: list[Unit] | None = None) -> tuple[JobStatus, str | None]:
    if job.outcome is not None:
        return JobStatus(job.outcome), job.reason
    workload = session.get(Workload, job.workload_id)
    assert workload is not None
    if gang is None:
        gang = workloads.current_gang(session, workload)
    states = {UnitState(u.state) for u in gang}
    # From the job's row, not the workload's attempt: on SQLite each read sees the latest
    # commit, so the two rows may be read on either side of a restart; the history shown
    # beside the status comes from this same row.
    restarting = bool(job.restarts)
    if states - {UnitState.running, UnitState.exited}:
        waits = workload.reason if UnitState.queued in states else None
        if restarting:
            return JobStatus.restarting, "; ".join(filter(None, (_restart_reason(job), waits)))
        return (JobStatus.queued if UnitState.queued in states else JobStatus.starting), waits
    return JobStatus.running, _resumed(job)


def _restart_reason(job: Job) -> str | None:
    return job.restarts[-1]["reason"] if job.restarts else None


def _resumed(job: Job) -> str | None:
    if not job.restarts:
        return None
    last = job.restarts[-1]
    step = last["resumed_from_step"]
    start = f"resumed from step {step}" if step is not None else "started again (no checkpoint)"
    return f"{start}, attempt {last['attempt']} of {job.spec['max_restarts'] + 1}"


def to_public(session: Session, settings: Settings, job: Job) -> JobPublic:
    owner = session.get(User, job.owner_id)
    workload = session.get(Workload, job.workload_id)
    assert owner is not None and workload is not None
    gang = workloads.current_gang(session, workload)
    status, reason = job_status(session, job, gang)
    body = JobCreate.model_validate(job.spec)
    previews = cluster.preview(body.strategy, replica_names(body))
    hosts = {h.id: h for h in session.scalars(select(Host).where(
        Host.id.in_({u.host_id for u in gang if u.host_id})))}
    replicas = []
    for unit in gang:
        spec = UnitSpec.model_validate(unit.spec)
        role, index = cluster.replica_of(spec)
        host = hosts.get(unit.host_id) if unit.host_id else None
        tf_config = spec.env.get("TF_CONFIG") if spec.host_port else previews.get((role, index))
        replicas.append(ReplicaPublic(
            name=f"{role}-{index}", role=role, index=index, unit=unit.id, state=unit.state,
            host=host.name if host else None,
            address=(f"{cluster.reachable_address(host.address or host.name, host.runtime)}:"
                     f"{spec.host_port}") if host and spec.host_port else None,
            gpus=unit_gpus(host, unit) if host else [], exit_code=unit.exit_code,
            error=unit.error, restarts=workload.restarts, tf_config=cluster.parse(tf_config),
            started_at=unit.started_at, finished_at=unit.finished_at))
    return JobPublic(
        id=job.id, name=job.name, owner=owner.username, status=status, reason=reason,
        position=workload.position if status == JobStatus.queued else None,
        attempt=workload.attempt, restarts=workload.restarts,
        max_restarts=workload.max_restarts,
        restart_history=[Restart.model_validate(r) for r in job.restarts],
        spec=body, replicas=replicas, phases=_phases(workload, gang),
        artifacts=artifacts.store(settings).location(job.id), created_at=job.created_at,
        finished_at=job.finished_at)


def _phases(workload: Workload, gang: list[Unit]) -> list[Phase]:
    """Submitted (this attempt queued), scheduled (every replica placed), running (every
    replica started)."""
    def last(times: list[datetime | None]) -> datetime | None:
        return None if not times or None in times else max(t for t in times if t)

    times = [("submitted", min((u.created_at for u in gang), default=workload.submitted_at)),
             ("scheduled", last([u.placed_at for u in gang])),
             ("running", last([u.started_at for u in gang]))]
    phases, before = [], None
    for name, at in times:
        phases.append(Phase(name=name, at=at,
                            seconds=(at - before).total_seconds() if at and before else None))
        before = at or before
    return phases
