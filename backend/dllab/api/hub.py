"""What JupyterHub's DLLab spawner calls, with the token hub and control plane share: a
server is named by its user and server name, as the hub knows it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from dllab.api.deps import (
    DispatcherDep,
    NamePath,
    SessionDep,
    SettingsDep,
    UsernamePath,
    check_hub_caller,
)
from dllab.schemas.common import Input
from dllab.schemas.environments import EnvironmentState
from dllab.services import environments

router = APIRouter(prefix="/hub/servers/{username}/{server}", tags=["hub"],
                   dependencies=[Depends(check_hub_caller)])



class SpawnRequest(Input):
    env: dict[Annotated[str, Field(max_length=128)], Annotated[str, Field(max_length=16384)]] \
        = Field(max_length=256, description="the environment the hub made for the server")


class StopRequest(Input):
    reason: Annotated[str, Field(max_length=2000)] | None = None


class ServerStatus(BaseModel):
    state: EnvironmentState
    reason: str | None
    url: str | None = Field(description="where the hub reaches JupyterLab, once it runs")
    alive: bool = Field(description="its unit has not ended")


@router.post("/spawn", status_code=204)
def spawn(username: UsernamePath, server: NamePath, body: SpawnRequest, session: SessionDep,
          settings: SettingsDep, dispatcher: DispatcherDep) -> None:
    """Submit the environment's unit with the hub's settings for the server."""
    env = environments.for_server(session, username, server)
    environments.spawn(session, settings, dispatcher, env, body.env)


@router.get("", response_model=ServerStatus)
def status(username: UsernamePath, server: NamePath, session: SessionDep) -> ServerStatus:
    """Where the server is; the spawner polls this until ``url`` is set."""
    env = environments.for_server(session, username, server)
    return ServerStatus.model_validate(environments.server_status(session, env))


@router.post("/ready", status_code=204)
def ready(username: UsernamePath, server: NamePath, session: SessionDep) -> None:
    """The hub routes to the server: the environment is running."""
    environments.mark_ready(session, environments.for_server(session, username, server))


@router.post("/stopped", status_code=204)
def stopped(username: UsernamePath, server: NamePath, body: StopRequest, session: SessionDep,
            settings: SettingsDep, dispatcher: DispatcherDep) -> None:
    """The hub stopped the server: stop its unit."""
    env = environments.for_server(session, username, server)
    environments.hub_stopped(session, settings, dispatcher, env, body.reason)
