from __future__ import annotations

from fastapi import APIRouter, Response

from dllab.api.deps import CurrentUser, Limit, NamePath, Offset, SessionDep, SettingsDep
from dllab.schemas.common import Page
from dllab.schemas.secrets import SecretCreate, SecretPublic, SecretReplace
from dllab.services import secrets

router = APIRouter(prefix="/secrets", tags=["secrets"])



@router.get("", response_model=Page[SecretPublic])
def list_secrets(user: CurrentUser, session: SessionDep, offset: Offset = 0,
                 limit: Limit = 100) -> Page[SecretPublic]:
    """Your secrets by name, with their keys; values are never shown (an admin too sees
    only their own)."""
    rows, count = secrets.list_secrets(session, user, offset, limit)
    return Page(data=[SecretPublic.model_validate(s) for s in rows], count=count)


@router.post("", response_model=SecretPublic, status_code=201)
def create_secret(body: SecretCreate, user: CurrentUser, session: SessionDep,
                  settings: SettingsDep) -> SecretPublic:
    """Keep credentials (``{"ACCESS_KEY": ..., "SECRET_KEY": ...}``) under a name, encrypted;
    the control plane uses them for you, nobody can read them back."""
    return SecretPublic.model_validate(secrets.create(session, settings, user, body))


@router.put("/{name}", response_model=SecretPublic)
def replace_secret(name: NamePath, body: SecretReplace, user: CurrentUser,
                   session: SessionDep, settings: SettingsDep) -> SecretPublic:
    """Replace the data of your secret ``name``, all of it."""
    return SecretPublic.model_validate(secrets.replace(session, settings, user, name, body))


@router.delete("/{name}", status_code=204, response_class=Response)
def delete_secret(name: NamePath, user: CurrentUser, session: SessionDep) -> Response:
    """Delete your secret ``name``."""
    secrets.delete(session, user, name)
    return Response(status_code=204)
