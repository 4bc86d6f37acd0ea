from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool

from dllab.api import uploads
from dllab.api.deps import CurrentUser, IdPath, Limit, Offset, SessionDep, SettingsDep
from dllab.schemas.common import Page
from dllab.schemas.serving import (
    LABEL_PATTERN,
    LabelSet,
    ModelCreate,
    ModelPublic,
    ModelUpdate,
    VersionCreate,
    VersionPublic,
)
from dllab.schemas.users import USERNAME_PATTERN
from dllab.services import models

router = APIRouter(prefix="/models", tags=["models"])

MAX_UPLOAD = 2 * 1024 * 1024 * 1024  # bytes, compressed: SavedModels carry their weights
VersionPath = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
LabelPath = Annotated[str, PathParam(pattern=LABEL_PATTERN, description="e.g. stable, canary")]


@router.get("", response_model=Page[ModelPublic])
def list_models(user: CurrentUser, session: SessionDep, offset: Offset = 0, limit: Limit = 100,
                owner: Annotated[str | None, Query(max_length=64, pattern=USERNAME_PATTERN)]
                = None) -> Page[ModelPublic]:
    """Your models by name (everyone's, for an admin; filter by ``owner``)."""
    rows, count = models.list_models(session, user, offset, limit, owner)
    return Page(data=[models.to_public(session, m) for m in rows], count=count)


@router.post("", response_model=ModelPublic, status_code=201)
def create_model(body: ModelCreate, user: CurrentUser, session: SessionDep) -> ModelPublic:
    """A new model, without versions yet; its name is unique among yours."""
    return models.to_public(session, models.create(session, user, body))


@router.get("/{model_id}", response_model=ModelPublic)
def get_model(model_id: IdPath, user: CurrentUser, session: SessionDep) -> ModelPublic:
    return models.to_public(session, models.get(session, user, model_id))


@router.patch("/{model_id}", response_model=ModelPublic)
def update_model(model_id: IdPath, body: ModelUpdate, user: CurrentUser,
                 session: SessionDep) -> ModelPublic:
    model = models.update(session, models.get(session, user, model_id), body)
    return models.to_public(session, model)


@router.delete("/{model_id}", status_code=204, response_class=Response)
def delete_model(model_id: IdPath, user: CurrentUser, session: SessionDep,
                 settings: SettingsDep) -> Response:
    """With every version; refused (409) while a service serves it."""
    models.delete(session, settings, models.get(session, user, model_id))
    return Response(status_code=204)


@router.get("/{model_id}/versions", response_model=Page[VersionPublic])
def list_versions(model_id: IdPath, user: CurrentUser, session: SessionDep,
                  settings: SettingsDep, offset: Offset = 0,
                  limit: Limit = 100) -> Page[VersionPublic]:
    """Newest first, each with its signatures (inputs and outputs: dtype, shape)."""
    model = models.get(session, user, model_id)
    rows = models.versions(session, model)
    return Page(data=[models.version_public(settings, model, v)
                      for v in rows[offset:offset + limit]], count=len(rows))


@router.post("/{model_id}/versions", response_model=VersionPublic, status_code=201)
def add_version(model_id: IdPath, body: VersionCreate, user: CurrentUser,
                session: SessionDep, settings: SettingsDep) -> VersionPublic:
    """Register the next version from a SavedModel folder: a job's output (``job: {id,
    path}``) or a folder on the hosts (``path``). Its signatures are read now; a folder
    that is no SavedModel is refused (400)."""
    model = models.get(session, user, model_id)
    row = models.add_version(session, settings, user, model, body)
    return models.version_public(settings, model, row)


@router.post("/{model_id}/versions/upload", response_model=VersionPublic, status_code=201,
             openapi_extra=uploads.BINARY_BODY)
async def upload_version(model_id: IdPath, request: Request, user: CurrentUser,
                         session: SessionDep, settings: SettingsDep) -> VersionPublic:
    """Register the next version from a SavedModel folder as a .tar.gz (the request body;
    its files at the top of the archive, or in one folder)."""
    model = await run_in_threadpool(models.get, session, user, model_id)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "model.tar.gz"
        await uploads.receive(request, archive, MAX_UPLOAD, "a .tar.gz of a SavedModel folder")
        row = await run_in_threadpool(models.add_upload, session, settings, model, archive)
        return models.version_public(settings, model, row)


@router.get("/{model_id}/versions/{version}", response_model=VersionPublic)
def get_version(model_id: IdPath, version: VersionPath, user: CurrentUser,
                session: SessionDep, settings: SettingsDep) -> VersionPublic:
    model = models.get(session, user, model_id)
    return models.version_public(settings, model, models.version(session, model, version))


@router.delete("/{model_id}/versions/{version}", status_code=204, response_class=Response)
def delete_version(model_id: IdPath, version: VersionPath, user: CurrentUser,
                   session: SessionDep, settings: SettingsDep) -> Response:
    """Refused (409) while a service serves it; labels on it go with it."""
    models.delete_version(session, settings, models.get(session, user, model_id), version)
    return Response(status_code=204)


@router.put("/{model_id}/labels/{label}", response_model=ModelPublic)
def set_label(model_id: IdPath, label: LabelPath, body: LabelSet,
              user: CurrentUser, session: SessionDep) -> ModelPublic:
    """Point a label (stable, canary...) at a version. Services route
    ``.../labels/LABEL:predict`` to it within a second."""
    model = models.set_label(session, models.get(session, user, model_id), label,
                             body.version)
    return models.to_public(session, model)


@router.delete("/{model_id}/labels/{label}", response_model=ModelPublic)
def remove_label(model_id: IdPath, label: LabelPath, user: CurrentUser,
                 session: SessionDep) -> ModelPublic:
    return models.to_public(session, models.remove_label(
        session, models.get(session, user, model_id), label))
