from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from dllab.schemas.common import Input, Name
from dllab.schemas.units import UnitGpu
from dllab.schemas.users import SshKeyLine

HOME_PATH = "/home/dev"  # the runtime image's user dev
WORKSPACE_PATH = f"{HOME_PATH}/work"  # where dev keeps the files that outlive stops


def _absolute(path: str) -> str:
    pure = PurePosixPath(path)
    if not pure.is_absolute() or ".." in pure.parts or str(pure) == "/":
        raise ValueError("must be an absolute path without '..', and not /")
    return str(pure)


AbsolutePath = Annotated[str, StringConstraints(min_length=2, max_length=4096),
                         AfterValidator(_absolute)]


class S3Source(Input):
    bucket: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    prefix: Annotated[str, StringConstraints(max_length=1024)] = Field(
        default="", description="objects under it are copied, their keys made relative to it")
    endpoint: Annotated[str, StringConstraints(max_length=2048, pattern=r"^https?://\S+$")] \
        | None = Field(default=None, description="S3-compatible server; default AWS")
    region: Annotated[str, StringConstraints(max_length=64, pattern=r"^[a-z0-9-]+$")] | None \
        = None
    secret: Name = Field(description=(
        "one of your secrets (POST /api/v1/secrets) holding ACCESS_KEY and SECRET_KEY"))


class VolumeSpec(Input):
    source: AbsolutePath | None = Field(default=None, description=(
        "a host path under a root the admin allows (DLLAB_ENVIRONMENT_VOLUME_ROOTS); NFS "
        "mounts are host paths"))
    s3: S3Source | None = Field(default=None, description=(
        f"or an S3 prefix, copied in at each start (a copy: changes stay in the "
        f"environment); its mount_path must be under {HOME_PATH}/"))
    mount_path: AbsolutePath = Field(description="where it appears inside the environment")
    read_only: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> VolumeSpec:
        if (self.source is None) == (self.s3 is None):
            raise ValueError("give either source (a host path) or s3")
        if self.s3 is not None and not self.mount_path.startswith(HOME_PATH + "/"):
            raise ValueError(f"an S3 volume is copied in as the user dev: its mount_path "
                             f"must be under {HOME_PATH}/")
        return self


class EnvironmentCreate(Input):
    name: Name
    image: Annotated[str, StringConstraints(min_length=3, max_length=400)] = Field(
        description="name:tag of an image in the catalogue (GET /api/v1/images)")
    gpus: int = Field(default=0, ge=0, le=64)
    cpus: float | None = Field(default=None, gt=0, le=1024)
    memory_mib: int | None = Field(default=None, ge=256, le=16 * 1024 * 1024)
    volumes: list[VolumeSpec] = Field(default_factory=list, max_length=16)
    ssh_public_keys: list[SshKeyLine] | None = Field(default=None, max_length=32, description=(
        "keys let in over SSH; default: the keys in your profile (PUT "
        "/api/v1/users/me/ssh-keys)"))


class EnvironmentState(StrEnum):
    queued = "queued"  # waits for GPUs, or for JupyterHub to ask for it
    starting = "starting"  # placed on a host; JupyterLab not answering yet
    running = "running"  # JupyterLab answers through the hub
    stopping = "stopping"
    stopped = "stopped"  # its workspace is kept; start it again
    failed = "failed"  # see reason


class Phase(BaseModel):
    name: str = Field(description="requested, created, scheduled, started or ready")
    at: datetime | None = Field(description="when it was reached; null: not yet")
    seconds: float | None = Field(description="time since the phase before")


class EnvironmentUrls(BaseModel):
    jupyter: str = Field(description="JupyterLab, through JupyterHub (console login)")
    tensorboard: str = Field(description=f"TensorBoard over {WORKSPACE_PATH}/logs")


class SshAccess(BaseModel):
    host: str
    port: int
    user: str
    command: str = Field(description="ready to paste")


class EnvironmentPublic(BaseModel):
    id: str
    name: str
    owner: str
    image: str
    gpus: int
    cpus: float | None
    memory_mib: int | None
    volumes: list[VolumeSpec]
    ssh_key_count: int = Field(description="keys let in over SSH")
    state: EnvironmentState
    reason: str | None = Field(description="why it is queued, stopped or failed, in words")
    position: int | None = Field(description="while queued for GPUs: its place in the queue")
    host: str | None
    devices: list[UnitGpu] = Field(description="the GPUs it holds, physical and visible")
    unit: str | None = Field(description="its current unit (GET /api/v1/units/{id}/logs)")
    phases: list[Phase] = Field(description="the latest start, timed")
    urls: EnvironmentUrls | None = Field(description="while running")
    ssh: SshAccess | None = Field(description="while running, if it lets any key in")
    idle_warning: str | None = Field(description=(
        "set when the idle-GPU policy will stop it unless its GPUs work again"))
    created_at: datetime
