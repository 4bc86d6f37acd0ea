"""What every workload asked for through the API is checked against before anything is
recorded (an image from the catalogue, a docker host, GPUs some host has, volumes under the
allowed roots), and how its volumes reach the unit (host-path mounts, S3 copies)."""

from __future__ import annotations

import json
import os
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dllab.config import Settings
from dllab.db.models import Host, Image, User
from dllab.errors import BadRequest
from dllab.protocol import Mount, RuntimeKind
from dllab.schemas.environments import WORKSPACE_PATH, VolumeSpec
from dllab.services.secrets import secret_data


def check_image(session: Session, reference: str) -> None:
    name, _, tag = reference.rpartition(":")
    if session.scalar(select(Image.id).where(Image.name == name, Image.tag == tag)) is None:
        raise BadRequest(f"image {reference} is not in the catalogue (GET /api/v1/images)",
                         reason="unknown_image")


def check_docker_host(session: Session, what: str) -> None:
    """``what`` (environments, jobs) run an image, on docker hosts only (the scheduler sees
    to it): a lab of process hosts only could never start one, so it is refused now
    (before any host registers, it waits instead)."""
    runtimes = set(session.scalars(select(Host.runtime).where(Host.registered_at.is_not(None))))
    if runtimes and RuntimeKind.docker not in runtimes:
        raise BadRequest(f"{what} need a host with the docker runtime; this lab's hosts "
                         "all run units as processes (start an agent where Docker runs)",
                         reason="needs_docker_host")


def check_gpus(session: Session, gpus: int, each: str = "") -> None:
    """More GPUs than any registered host has could never start: refused now. GPUs that
    exist but are busy only make it wait in the queue (as does any ask before a host has
    registered)."""
    if gpus == 0:
        return
    inventories = session.scalars(select(Host.gpus).where(Host.registered_at.is_not(None))).all()
    if inventories and gpus > max(len(g) for g in inventories):
        raise BadRequest(f"{gpus} GPUs asked for{each}, but the largest host has "
                         f"{max(len(g) for g in inventories)}", reason="too_many_gpus")


def check_volume(session: Session, settings: Settings, owner: User,
                  volume: VolumeSpec) -> None:
    if volume.mount_path == WORKSPACE_PATH:
        raise BadRequest(f"{WORKSPACE_PATH} is the workspace; mount the volume elsewhere",
                         reason="volume_on_workspace")
    if volume.s3 is not None:
        _s3_credentials(session, settings, owner, volume.s3.secret)
        return
    assert volume.source is not None
    check_host_path(settings, volume.source, "volume")


def check_host_path(settings: Settings, path: str, what: str) -> None:
    real = os.path.realpath(path)
    roots = [os.path.realpath(r) for r in settings.environment_volume_roots]
    if not any(real == r or real.startswith(r.rstrip("/") + "/") for r in roots):
        allowed = ", ".join(roots) if roots else "none are allowed (DLLAB_ENVIRONMENT_VOLUME_ROOTS)"
        raise BadRequest(f"{what} {path} is outside the allowed roots: {allowed}",
                         reason="volume_outside_roots")


def _s3_credentials(session: Session, settings: Settings, owner: User,
                    secret: str) -> tuple[str, str]:
    data = secret_data(session, settings, owner, secret)
    for access, key in (("ACCESS_KEY", "SECRET_KEY"),
                        ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")):
        if access in data and key in data:
            return data[access], data[key]
    raise BadRequest(f"secret {secret} holds no ACCESS_KEY and SECRET_KEY (nor "
                     "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", reason="bad_s3_secret")


def s3_volumes(session: Session, settings: Settings, owner: User,
                volumes: list[dict[str, Any]]) -> str | None:
    """What dllab-s3-copy in the image copies in: the S3 volumes, with their credentials
    read now (a secret changed since creation applies at the next start)."""
    copies = []
    for volume in (VolumeSpec.model_validate(v) for v in volumes):
        if volume.s3 is None:
            continue
        access_key, secret_key = _s3_credentials(session, settings, owner, volume.s3.secret)
        copies.append({**volume.s3.model_dump(exclude={"secret"}),
                       "mount_path": volume.mount_path, "read_only": volume.read_only,
                       "access_key": access_key, "secret_key": secret_key})
    return json.dumps(copies) if copies else None


def host_mounts(volumes: list[dict[str, Any]]) -> list[Mount]:
    return [Mount(source=v["source"], target=v["mount_path"], read_only=v["read_only"])
            for v in volumes if v.get("source")]
