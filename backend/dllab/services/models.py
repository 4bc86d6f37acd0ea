"""The model registry: models with numbered versions (a SavedModel each, kept in the
artifact store) and labels pointing at versions. A version is registered from a job's
output, from a folder on the hosts, or from an uploaded .tar.gz; its signatures are read
then, and a folder that is not a SavedModel with signatures is refused whole."""

from __future__ import annotations

import tarfile
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dllab.config import Settings
from dllab.db.models import Model, ModelVersion, Service, User
from dllab.db.models.base import utcnow
from dllab.errors import BadRequest, Conflict, NotFound
from dllab.schemas.serving import (
    ModelCreate,
    ModelPublic,
    ModelUpdate,
    VersionCreate,
    VersionPublic,
)
from dllab.services import artifacts, code_uploads, jobs, owned, submissions
from dllab.serving.saved_model import SavedModelError, read_signatures


def get(session: Session, user: User, model_id: str) -> Model:
    return owned.get(session, user, Model, model_id, "model")


def by_name(session: Session, owner: User, name: str) -> Model:
    model = session.scalar(select(Model).where(Model.owner_id == owner.id, Model.name == name))
    if model is None:
        raise BadRequest(f"you have no model named {name} (POST /api/v1/models)",
                         reason="model_not_found")
    return model


def list_models(session: Session, user: User, offset: int, limit: int,
                owner: str | None = None) -> tuple[list[Model], int]:
    query = owned.visible(user, Model)
    if owner is not None:
        query = query.join(User, User.id == Model.owner_id).where(User.username == owner)
    rows = session.scalars(query.order_by(Model.name, Model.id).offset(offset).limit(limit))
    return list(rows), session.scalar(select(func.count()).select_from(query.subquery())) or 0


def create(session: Session, owner: User, body: ModelCreate) -> Model:
    model = Model(id=uuid.uuid4().hex, name=body.name, owner_id=owner.id,
                  description=body.description, labels={}, created_at=utcnow())
    session.add(model)
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(f"you already have a model named {body.name}",
                       reason="model_exists") from exc
    return model


def update(session: Session, model: Model, body: ModelUpdate) -> Model:
    model.description = body.description
    session.commit()
    return model


def delete(session: Session, settings: Settings, model: Model) -> None:
    _not_served(session, model, None)
    session.delete(model)
    session.commit()
    artifacts.store(settings).forget_model(model.id)


def versions(session: Session, model: Model) -> list[ModelVersion]:
    return list(session.scalars(select(ModelVersion).where(ModelVersion.model_id == model.id)
                                .order_by(ModelVersion.version.desc())))


def version(session: Session, model: Model, number: int) -> ModelVersion:
    row = session.scalar(select(ModelVersion).where(ModelVersion.model_id == model.id,
                                                    ModelVersion.version == number))
    if row is None:
        raise NotFound(f"model {model.name} has no version {number}",
                       reason="version_not_found")
    return row


def resolve(session: Session, model: Model, number: int | None, label: str | None) -> int:
    """A version by number, by label, or the newest; it must exist."""
    if label is not None:
        if label not in model.labels:
            raise BadRequest(f"model {model.name} has no label {label} (it has: "
                             f"{', '.join(sorted(model.labels)) or 'none'})",
                             reason="label_not_found")
        return model.labels[label]
    if number is None:
        newest = session.scalar(select(func.max(ModelVersion.version))
                                .where(ModelVersion.model_id == model.id))
        if newest is None:
            raise BadRequest(f"model {model.name} has no version yet", reason="no_versions")
        return newest
    if session.scalar(select(ModelVersion.id).where(ModelVersion.model_id == model.id,
                                                    ModelVersion.version == number)) is None:
        raise BadRequest(f"model {model.name} has no version {number}",
                         reason="version_not_found")
    return number


def add_version(session: Session, settings: Settings, user: User, model: Model,
                body: VersionCreate) -> ModelVersion:
    """From a job's output (the job must be the user's) or a folder on the hosts."""
    store = artifacts.store(settings)
    with tempfile.TemporaryDirectory(prefix="dllab-model-") as tmp:
        if body.job is not None:
            job = jobs.get(session, user, body.job.id)
            folder = Path(tmp) / "model"
            store.fetch_job_output(job.id, body.job.path, folder)
            return _register(session, settings, model, folder,
                             {"job": job.id, "path": body.job.path})
        assert body.path is not None
        submissions.check_host_path(settings, body.path, "model folder")
        if not Path(body.path).is_dir():
            raise BadRequest(f"{body.path} is not a folder the control plane can read",
                             reason="no_saved_model")
        return _register(session, settings, model, Path(body.path), {"path": body.path})


def add_upload(session: Session, settings: Settings, model: Model,
               archive: Path) -> ModelVersion:
    """From a .tar.gz of a SavedModel folder (its files at the top, or in one folder)."""
    code_uploads.check_archive(archive, "the model")
    with tempfile.TemporaryDirectory(prefix="dllab-model-") as tmp:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(tmp, filter="data")
        top = [p for p in Path(tmp).iterdir()]
        folder = top[0] if len(top) == 1 and top[0].is_dir() else Path(tmp)
        return _register(session, settings, model, folder,
                         {"upload": archive.stat().st_size})


def _register(session: Session, settings: Settings, model: Model, folder: Path,
              source: dict[str, object]) -> ModelVersion:
    link = next((p for p in folder.rglob("*") if p.is_symlink()), None)
    if link is not None:
        raise BadRequest(f"{link.relative_to(folder)} in the SavedModel folder is a link; "
                         "only files and folders are registered", reason="not_a_saved_model")
    try:
        signatures = read_signatures(folder)
    except SavedModelError as exc:
        raise BadRequest(str(exc), reason="not_a_saved_model") from exc
    number = model.next_version  # never one a deleted version had: clients may name it
    model.next_version += 1
    store = artifacts.store(settings)
    row = ModelVersion(model_id=model.id, version=number, source=source, signatures=signatures,
                       size_bytes=sum(p.stat().st_size for p in folder.rglob("*")
                                      if p.is_file()), created_at=utcnow())
    session.add(row)
    try:
        session.flush()  # the number is taken before any byte is copied
        store.keep_model(folder, model.id, number)
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict("another version was registered at the same time; try again",
                       reason="version_race") from exc
    except BaseException:
        session.rollback()
        store.forget_model(model.id, number)
        raise
    return row


def delete_version(session: Session, settings: Settings, model: Model, number: int) -> None:
    row = version(session, model, number)
    _not_served(session, model, number)
    model.labels = {k: v for k, v in model.labels.items() if v != number}
    session.delete(row)
    session.commit()
    artifacts.store(settings).forget_model(model.id, number)


def set_label(session: Session, model: Model, label: str, number: int) -> Model:
    version(session, model, number)
    model.labels = {**model.labels, label: number}
    session.commit()
    return model


def remove_label(session: Session, model: Model, label: str) -> Model:
    if label not in model.labels:
        raise NotFound(f"model {model.name} has no label {label}", reason="label_not_found")
    model.labels = {k: v for k, v in model.labels.items() if k != label}
    session.commit()
    return model


def _not_served(session: Session, model: Model, number: int | None) -> None:
    """A model (or version) that a service still serves stays."""
    for service in session.scalars(select(Service).where(Service.model_id == model.id)):
        served = {t["version"] for t in service.tracks}
        if number is None or number in served:
            what = "it" if number is None else f"version {number}"
            raise Conflict(f"service {service.name} serves {what}; delete or update the "
                           "service first", reason="model_in_use")


def to_public(session: Session, model: Model) -> ModelPublic:
    owner = session.get(User, model.owner_id)
    count, latest = session.execute(
        select(func.count(), func.max(ModelVersion.version))
        .where(ModelVersion.model_id == model.id)).one()
    return ModelPublic(id=model.id, name=model.name, owner=owner.username if owner else "?",
                       description=model.description, labels=model.labels, versions=count,
                       latest=latest, created_at=model.created_at)


def version_public(settings: Settings, model: Model, row: ModelVersion) -> VersionPublic:
    return VersionPublic(
        version=row.version, source=row.source, signatures=row.signatures,
        size_bytes=row.size_bytes,
        labels=sorted(k for k, v in model.labels.items() if v == row.version),
        location=artifacts.store(settings).model_location(model.id, row.version),
        created_at=row.created_at)
