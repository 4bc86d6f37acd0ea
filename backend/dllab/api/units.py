from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, StreamingResponse

from dllab.api.context import AppContext
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
from dllab.protocol import UnitState
from dllab.schemas.common import Page
from dllab.schemas.units import UnitCreate, UnitPublic
from dllab.services import units

Tail = Annotated[int | None, Query(ge=1, le=100_000, description="only the last N lines")]

router = APIRouter(prefix="/units", tags=["units"])


@router.get("", response_model=Page[UnitPublic])
def list_units(user: CurrentUser, session: SessionDep, offset: Offset = 0, limit: Limit = 100,
               state: UnitState | None = None) -> Page[UnitPublic]:
    """Your units, newest first (every unit, for an admin)."""
    rows, count = units.list_units(session, user, offset, limit, state)
    return Page(data=[units.to_public(session, u) for u in rows], count=count)


@router.post("", response_model=UnitPublic, status_code=201)
def create_unit(body: UnitCreate, user: CurrentUser, session: SessionDep,
                settings: SettingsDep, dispatcher: DispatcherDep) -> UnitPublic:
    """Run one container or process on a GPU host. The scheduler places it at once (state
    ``starting``: its host's agent has been sent the command; poll to see it ``running``)
    or queues it (state ``queued``, with its ``position`` and the ``reason`` it waits)."""
    unit = units.create_unit(session, settings, dispatcher, user, body)
    return units.to_public(session, unit)


@router.get("/{unit_id}", response_model=UnitPublic)
def get_unit(unit_id: IdPath, user: CurrentUser, session: SessionDep) -> UnitPublic:
    """One unit: state, host, physical and visible GPUs, ports, exit code."""
    return units.to_public(session, units.get_unit(session, user, unit_id))


@router.post("/{unit_id}/stop", response_model=UnitPublic)
def stop_unit(unit_id: IdPath, user: CurrentUser, session: SessionDep,
              settings: SettingsDep, dispatcher: DispatcherDep) -> UnitPublic:
    """Stop a unit and remove it from its host (a queued one leaves the queue); its record
    and logs stay."""
    return units.to_public(session, units.stop_unit(session, settings, dispatcher, user,
                                                    unit_id))


@router.get("/{unit_id}/logs", response_class=PlainTextResponse, response_model=None,
            responses={200: {"content": {"text/plain": {}}}})
async def unit_logs(unit_id: IdPath, user: CurrentUser, context: ContextDep, tail: Tail = None,
                    follow: bool = False) -> PlainTextResponse | StreamingResponse:
    """The unit's output, one timestamped line each. ``follow`` streams new lines until
    the unit ends; ``tail`` starts from the last N lines."""

    def running() -> bool:
        with context.sessions() as session:
            return not UnitState(units.get_unit(session, user, unit_id).state).final

    return await log_response(context, unit_id, running, tail, follow)


async def log_response(context: AppContext, unit_id: str, running: Callable[[], bool],
                       tail: int | None, follow: bool) -> PlainTextResponse | StreamingResponse:
    """A unit's stored log, or with ``follow`` a stream of it until ``running()`` is false
    and every line is out. ``running`` also checks access: called once before anything."""
    alive = await run_in_threadpool(running)
    if not follow or not alive:
        lines = await run_in_threadpool(context.logs.read, unit_id, tail)
        return PlainTextResponse("".join(line + "\n" for line in lines))

    async def still_running() -> bool:
        return await run_in_threadpool(running)

    return StreamingResponse(context.logs.follow(unit_id, tail, still_running),
                             media_type="text/plain")
