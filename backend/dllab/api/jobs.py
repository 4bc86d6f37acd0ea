from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, StreamingResponse

from dllab.api import uploads
from dllab.api.deps import (
    ContextDep,
    CurrentUser,
    DispatcherDep,
    IdPath,
    Limit,
    Offset,
    SessionDep,
    SettingsDep,
)
from dllab.api.units import Tail, log_response
from dllab.protocol import UnitState
from dllab.schemas.common import Page
from dllab.schemas.jobs import (
    CodeUpload,
    JobCreate,
    JobPublic,
    JobScalars,
    JobStatus,
    TensorBoardPublic,
)
from dllab.schemas.users import USERNAME_PATTERN
from dllab.services import artifacts, code_uploads, jobs, tensorboards, units

router = APIRouter(prefix="/jobs", tags=["jobs"])

ReplicaQuery = Annotated[str | None, Query(
    pattern=r"^(chief|worker|ps|evaluator)-\d{1,2}$",
    description="role-index, e.g. worker-1; default the chief (or worker-0 without one)")]


@router.get("", response_model=Page[JobPublic])
def list_jobs(user: CurrentUser, session: SessionDep, settings: SettingsDep,
              offset: Offset = 0, limit: Limit = 100, status: JobStatus | None = None,
              owner: Annotated[str | None, Query(max_length=64, pattern=USERNAME_PATTERN)]
              = None) -> Page[JobPublic]:
    """Your jobs, newest first (everyone's, for an admin), finished ones included; filter
    by ``status`` and (admins) ``owner``."""
    rows, count = jobs.list_jobs(session, user, offset, limit, status, owner)
    return Page(data=[jobs.to_public(session, settings, j) for j in rows], count=count)


@router.post("", response_model=JobPublic, status_code=201)
def submit_job(body: JobCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep,
               dispatcher: DispatcherDep) -> JobPublic:
    """Submit a distributed TensorFlow job. Every replica is placed at once or the job
    waits (``queued``, with its position and reason); each replica gets its TF_CONFIG and
    ``DLLAB_*`` folders. Poll until ``succeeded``, ``failed`` or ``cancelled``."""
    job = jobs.submit(session, settings, dispatcher, user, body)
    return jobs.to_public(session, settings, job)


@router.post("/code", response_model=CodeUpload, status_code=201,
             openapi_extra=uploads.BINARY_BODY)
async def upload_code(request: Request, user: CurrentUser, settings: SettingsDep) -> CodeUpload:
    """Upload a job's code: the request body is a .tar.gz (any content type, e.g.
    application/gzip or application/octet-stream). Name the answer's ``id`` in a
    job as ``code: {"upload": ID}``; it is mounted read-only at /dllab/code."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "code.tar.gz"
        await uploads.receive(request, archive, code_uploads.MAX_UPLOAD, "a .tar.gz archive")
        return await run_in_threadpool(code_uploads.store, settings, user, archive)


@router.get("/{job_id}", response_model=JobPublic)
def get_job(job_id: IdPath, user: CurrentUser, session: SessionDep,
            settings: SettingsDep) -> JobPublic:
    """One job: status and reason, every replica (host, GPUs, TF_CONFIG, exit code),
    restarts with the step each resumed from, timed phases."""
    return jobs.to_public(session, settings, jobs.get(session, user, job_id))


@router.get("/{job_id}/scalars", response_model=JobScalars)
def job_scalars(job_id: IdPath, user: CurrentUser, session: SessionDep,
                settings: SettingsDep) -> JobScalars:
    """Its loss, accuracy and other scalars, as written to DLLAB_LOG_DIR with
    tf.summary (TensorBoard's event files), at most 500 points a series."""
    job = jobs.get(session, user, job_id)
    return JobScalars(series=artifacts.store(settings).scalars(job.id))


@router.get("/{job_id}/tensorboard", response_model=TensorBoardPublic)
def tensorboard_status(job_id: IdPath, user: CurrentUser, session: SessionDep,
                       settings: SettingsDep) -> TensorBoardPublic:
    """Its TensorBoard: stopped, starting, or running with the ``url`` to open."""
    return tensorboards.status(session, settings, jobs.get(session, user, job_id))


@router.post("/{job_id}/tensorboard", response_model=TensorBoardPublic)
def start_tensorboard(job_id: IdPath, user: CurrentUser, session: SessionDep,
                      settings: SettingsDep, dispatcher: DispatcherDep) -> TensorBoardPublic:
    """Start its TensorBoard over its logs folder (during the job or after it); poll GET
    until ``running``. It stops after DLLAB_TENSORBOARD_IDLE_MINUTES unopened."""
    job = jobs.get(session, user, job_id)
    tensorboards.start(session, settings, dispatcher, job)
    return tensorboards.status(session, settings, job)


@router.delete("/{job_id}/tensorboard", response_model=TensorBoardPublic)
def stop_tensorboard(job_id: IdPath, user: CurrentUser, session: SessionDep,
                     settings: SettingsDep, dispatcher: DispatcherDep) -> TensorBoardPublic:
    """Stop its TensorBoard now."""
    job = jobs.get(session, user, job_id)
    tensorboards.stop(session, settings, dispatcher, job)
    return tensorboards.status(session, settings, job)


@router.get("/{job_id}/tensorboard/auth", status_code=204, response_class=Response,
            include_in_schema=False)
def authorize_tensorboard(job_id: IdPath, user: CurrentUser, session: SessionDep) -> Response:
    """Asked by the edge proxy before each request to the TensorBoard (ForwardAuth, with
    the browser's cookies): 204 lets it through; another user's job answers 404."""
    tensorboards.used(session, jobs.get(session, user, job_id))
    return Response(status_code=204)


@router.post("/{job_id}/cancel", response_model=JobPublic)
def cancel_job(job_id: IdPath, user: CurrentUser, session: SessionDep, settings: SettingsDep,
               dispatcher: DispatcherDep) -> JobPublic:
    """Stop every replica and free their GPUs; the record, logs and artifacts stay."""
    return jobs.to_public(session, settings,
                          jobs.cancel(session, settings, dispatcher, user, job_id))


@router.get("/{job_id}/logs", response_class=PlainTextResponse, response_model=None,
            responses={200: {"content": {"text/plain": {}}}})
async def job_logs(job_id: IdPath, user: CurrentUser, context: ContextDep,
                   replica: ReplicaQuery = None,
                   attempt: Annotated[int | None, Query(ge=1, le=1000, description=(
                       "default the current attempt"))] = None,
                   tail: Tail = None,
                   follow: bool = False) -> PlainTextResponse | StreamingResponse:
    """One replica's output, timestamped lines, kept after the job ends. ``follow`` streams
    new lines while the replica runs; ``tail`` starts from the last N lines."""

    def unit_id() -> str:
        with context.sessions() as session:
            return jobs.replica_unit(session, jobs.get(session, user, job_id),
                                     replica, attempt).id

    unit = await run_in_threadpool(unit_id)

    def running() -> bool:
        with context.sessions() as session:
            return not UnitState(units.get_unit(session, user, unit).state).final

    return await log_response(context, unit, running, tail, follow)
