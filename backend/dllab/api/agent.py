"""Endpoints agents call with their host token. Users' tokens are refused here."""

from __future__ import annotations

from fastapi import APIRouter, Response

from dllab import protocol
from dllab.api.deps import (
    ContextDep,
    CurrentHost,
    DispatcherDep,
    IdPath,
    SessionDep,
    SettingsDep,
)
from dllab.errors import BadRequest
from dllab.services import agents, gpu_metrics

router = APIRouter(prefix="/agent", tags=["agent"])


@router.post("/register", response_model=protocol.AgentRegistered)
def register(body: protocol.AgentRegister, host: CurrentHost, session: SessionDep,
             settings: SettingsDep, dispatcher: DispatcherDep) -> protocol.AgentRegistered:
    """An agent starting: its runtime, GPUs and the units it already runs."""
    return agents.register(session, settings, dispatcher, host, body)


@router.post("/heartbeat", status_code=204)
def heartbeat(body: protocol.AgentHeartbeat, host: CurrentHost, session: SessionDep,
              settings: SettingsDep, dispatcher: DispatcherDep) -> Response:
    """GPU readings and unit states, every few seconds."""
    agents.heartbeat(session, settings, dispatcher, host, body)
    return Response(status_code=204)


@router.post("/metrics", status_code=204)
def metrics(body: protocol.MetricsReport, host: CurrentHost, session: SessionDep,
            context: ContextDep) -> Response:
    """One sample of the host's GPUs with who holds each, every second."""
    gpu_metrics.ingest(session, context.gpus, host, body)
    return Response(status_code=204)


@router.post("/units/{unit_id}/report", status_code=204)
def report(unit_id: IdPath, body: protocol.UnitReport, host: CurrentHost, session: SessionDep,
           settings: SettingsDep, dispatcher: DispatcherDep) -> Response:
    """A unit's state right after the agent acted on it."""
    if body.unit_id != unit_id:
        raise BadRequest("the report's unit_id differs from the one in the path")
    agents.report(session, settings, dispatcher, host, body)
    return Response(status_code=204)


@router.post("/units/{unit_id}/logs", response_model=protocol.UnitLogAck)
def ship_logs(unit_id: IdPath, body: protocol.UnitLogLines, host: CurrentHost,
              session: SessionDep, context: ContextDep) -> protocol.UnitLogAck:
    """Log lines of a unit, numbered from ``offset``; the answer says where to go on."""
    return agents.ship_logs(session, context.logs, host, unit_id, body)
