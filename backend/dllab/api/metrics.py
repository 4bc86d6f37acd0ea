"""GPU readings: now, over time, and as Prometheus metrics for the whole cluster."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dllab import dcgm
from dllab.api.deps import AdminUser, ContextDep, CurrentUser, SessionDep, SettingsDep
from dllab.monitoring.book import FRESH_SECONDS
from dllab.schemas.metrics import GpuHistory, GpusNow, HostGpusNow
from dllab.services import gpu_metrics

router = APIRouter(prefix="/metrics", tags=["metrics"])
prometheus = APIRouter(tags=["metrics"])

_Id = Annotated[str | None, Query(pattern=r"^[0-9a-f]{32}$", description="32 hex digits")]


@router.get("/gpus", response_model=GpuHistory, response_model_by_alias=True)
def gpu_history(
    user: CurrentUser, session: SessionDep, settings: SettingsDep,
    host: Annotated[str | None, Query(max_length=63, description="a host's name")] = None,
    gpu: Annotated[int | None, Query(ge=0, le=1023, description="physical index")] = None,
    workload: _Id = None, environment: _Id = None, job: _Id = None, service: _Id = None,
    from_: Annotated[datetime | None, Query(alias="from", description=(
        "ISO 8601 with a zone, where the first point starts (its fraction of a second "
        "is dropped); default: 15 minutes before `to`"))] = None,
    to: Annotated[datetime | None, Query(description="ISO 8601 with a zone; default now")] = None,
    step: Annotated[int | None, Query(ge=1, le=86400, description=(
        "seconds per point; default: the range in about 300 points"))] = None,
) -> GpuHistory:
    """GPU readings over a range, averaged per step: a series per GPU. Filter by host and
    GPU, or by what held the GPUs: a workload, environment, job or service (yours, or any
    for an admin). Kept at 1 s for the last hour, then as 1 min averages for 30 days."""
    return gpu_metrics.history(session, settings, user, gpu_metrics.Query(
        host=host, gpu=gpu, workload=workload, environment=environment, job=job,
        service=service, start=from_, end=to, step=step))


@router.get("/gpus/now", response_model=GpusNow)
def gpus_now(_: CurrentUser, context: ContextDep) -> GpusNow:
    """Every GPU's latest readings and who holds it, for hosts heard from lately."""
    return GpusNow(hosts=[
        HostGpusNow(host=s.host, taken_at=datetime.fromtimestamp(s.taken_at, UTC), gpus=s.gpus)
        for s in context.gpus.latest(FRESH_SECONDS)])


@prometheus.get("/metrics", response_class=Response, responses={200: {
    "content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}})
def scrape(_: AdminUser, context: ContextDep) -> Response:
    """Every host's GPUs in Prometheus text format, under the DCGM exporter's metric names
    and labels plus DLLab's (who holds each GPU). Scrape with an admin's API token; each
    agent also serves its own host's on port 9402."""
    latest = context.gpus.latest(FRESH_SECONDS)
    body = generate_latest(dcgm.registry(lambda: [(s.host, s.gpus) for s in latest]))
    return Response(body, media_type=CONTENT_TYPE_LATEST)
