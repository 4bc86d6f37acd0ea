from __future__ import annotations

from fastapi import APIRouter, Response

from dllab.api.deps import (
    AdminUser,
    CurrentUser,
    DispatcherDep,
    Limit,
    Offset,
    RowId,
    SessionDep,
    SettingsDep,
)
from dllab.schemas.common import Page
from dllab.schemas.hosts import HostCreate, HostCreated, HostPublic
from dllab.services import hosts

router = APIRouter(prefix="/hosts", tags=["hosts"])


@router.get("", response_model=Page[HostPublic])
def list_hosts(_: CurrentUser, session: SessionDep, settings: SettingsDep, offset: Offset = 0,
               limit: Limit = 100) -> Page[HostPublic]:
    """GPU hosts with their status (new, online, offline) and GPUs."""
    rows, count = hosts.list_hosts(session, settings, offset, limit)
    return Page(data=rows, count=count)


@router.post("", response_model=HostCreated, status_code=201)
def add_host(body: HostCreate, _: AdminUser, session: SessionDep,
             settings: SettingsDep) -> HostCreated:
    """Add a GPU host (admin only). The answer holds the host token for its agent, once."""
    return hosts.add_host(session, settings, body.name)


@router.delete("/{host_id}", status_code=204)
def remove_host(host_id: RowId, _: AdminUser, session: SessionDep, settings: SettingsDep,
                dispatcher: DispatcherDep) -> Response:
    """Remove a host (admin only); its token stops working. Refused while it is online and
    runs units; an offline host's units are lost with it and handled by their policy."""
    hosts.remove_host(session, settings, dispatcher, host_id)
    return Response(status_code=204)
