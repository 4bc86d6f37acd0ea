from __future__ import annotations

from fastapi import APIRouter, Response

from dllab.api.deps import (
    CurrentUser,
    DispatcherDep,
    HubDep,
    IdPath,
    Limit,
    Offset,
    SessionDep,
    SettingsDep,
)
from dllab.schemas.common import Page
from dllab.schemas.environments import EnvironmentCreate, EnvironmentPublic
from dllab.services import environments

router = APIRouter(prefix="/environments", tags=["environments"])


@router.get("", response_model=Page[EnvironmentPublic])
def list_environments(user: CurrentUser, session: SessionDep, settings: SettingsDep,
                      offset: Offset = 0, limit: Limit = 100) -> Page[EnvironmentPublic]:
    """Your environments, newest first (everyone's, for an admin)."""
    rows, count = environments.list_environments(session, user, offset, limit)
    return Page(data=[environments.to_public(session, settings, e) for e in rows], count=count)


@router.post("", response_model=EnvironmentPublic, status_code=201)
def create_environment(body: EnvironmentCreate, user: CurrentUser, session: SessionDep,
                       settings: SettingsDep, hub: HubDep) -> EnvironmentPublic:
    """Create an environment and start it: JupyterLab (through JupyterHub), TensorBoard over
    ``~/work/logs`` and SSH, on ``gpus`` GPUs seen as 0..n-1, with a workspace mounted at
    ``/home/dev/work`` that outlives stops. It answers at once, ``queued``; poll until
    ``running`` (``phases`` times the start), when ``urls`` and ``ssh`` are filled in."""
    env = environments.create(session, settings, hub, user, body)
    return environments.to_public(session, settings, env)


@router.get("/{environment_id}", response_model=EnvironmentPublic)
def get_environment(environment_id: IdPath, user: CurrentUser, session: SessionDep,
                    settings: SettingsDep) -> EnvironmentPublic:
    """One environment: state and reason, phases, GPUs, links and the ssh command."""
    return environments.to_public(session, settings,
                                  environments.get(session, user, environment_id))


@router.post("/{environment_id}/stop", response_model=EnvironmentPublic)
def stop_environment(environment_id: IdPath, user: CurrentUser, session: SessionDep,
                     settings: SettingsDep, dispatcher: DispatcherDep,
                     hub: HubDep) -> EnvironmentPublic:
    """Stop it and free its GPUs; the workspace is kept for the next start."""
    env = environments.stop(session, settings, dispatcher, hub, user, environment_id)
    return environments.to_public(session, settings, env)


@router.post("/{environment_id}/start", response_model=EnvironmentPublic)
def start_environment(environment_id: IdPath, user: CurrentUser, session: SessionDep,
                      settings: SettingsDep, hub: HubDep) -> EnvironmentPublic:
    """Start a stopped (or failed) environment again, with its workspace as it was left."""
    env = environments.start(session, hub, user, environment_id)
    return environments.to_public(session, settings, env)


@router.delete("/{environment_id}", status_code=204, response_class=Response)
def delete_environment(environment_id: IdPath, user: CurrentUser,
                       session: SessionDep, settings: SettingsDep, dispatcher: DispatcherDep,
                       hub: HubDep) -> Response:
    """Stop it and remove it with its workspace. This cannot be undone."""
    environments.delete(session, settings, dispatcher, hub, user, environment_id)
    return Response(status_code=204)
