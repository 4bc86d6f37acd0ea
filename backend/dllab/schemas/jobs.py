from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from dllab.jobs.tf_config import Role, Strategy, check_replicas
from dllab.schemas.common import Input
from dllab.schemas.environments import AbsolutePath, VolumeSpec
from dllab.schemas.units import Arg, EnvName, UnitGpu

JOB_NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$"
JobName = Annotated[str, StringConstraints(pattern=JOB_NAME_PATTERN), Field(
    description="lowercase letters, digits and '-', 1-40 characters, starting and ending "
                "with a letter or digit")]

# Inside every replica (docker runtime): the job's folders in the artifact store.
CODE_PATH = "/dllab/code"
ARTIFACTS_PATH = "/dllab/artifacts"

# Log lines (or a unit's error) that a restart cannot fix: the job fails at once.
DEFAULT_NOT_RETRYABLE = [
    r"ResourceExhaustedError",
    r"CUDA_ERROR_OUT_OF_MEMORY",
    r"killed: out of memory",
]


def _regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from exc
    return pattern


class ReplicaSpec(Input):
    count: int = Field(default=1, ge=0, le=64)
    gpus: int = Field(default=0, ge=0, le=64, description="GPUs for each replica")
    cpus: float | None = Field(default=None, gt=0, le=1024)
    memory_mib: int | None = Field(default=None, ge=256, le=16 * 1024 * 1024)


class Replicas(Input):
    """How many replicas of each role, and what each gets. TensorFlow's roles: the chief
    (coordinator), workers, parameter servers (ps) and an evaluator."""

    chief: ReplicaSpec | None = None
    worker: ReplicaSpec | None = None
    ps: ReplicaSpec | None = None
    evaluator: ReplicaSpec | None = None

    def of(self, role: Role) -> ReplicaSpec | None:
        spec: ReplicaSpec | None = getattr(self, role.value)
        return spec if spec is not None and spec.count > 0 else None

    def counts(self) -> dict[Role, int]:
        return {role: spec.count for role in Role if (spec := self.of(role)) is not None}


class CodeSource(Input):
    upload: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")] | None = Field(
        default=None, description="the id POST /api/v1/jobs/code answered for a .tar.gz")
    path: AbsolutePath | None = Field(default=None, description=(
        "or a folder on the hosts, under a root the admin allows "
        "(DLLAB_ENVIRONMENT_VOLUME_ROOTS), e.g. on a shared volume"))

    @model_validator(mode="after")
    def _one_source(self) -> CodeSource:
        if (self.upload is None) == (self.path is None):
            raise ValueError("give either upload (an uploaded archive) or path")
        return self


class CheckpointPolicy(Input):
    every_steps: int = Field(default=100, ge=1, le=10**9, description=(
        "given to the replicas as DLLAB_CHECKPOINT_EVERY_STEPS"))


class JobCreate(Input):
    name: JobName
    image: Annotated[str, StringConstraints(min_length=3, max_length=400)] = Field(
        description="name:tag of an image in the catalogue (GET /api/v1/images)")
    command: list[Arg] = Field(min_length=1, max_length=256, description="argv of every replica")
    working_dir: AbsolutePath | None = Field(default=None, description=(
        f"default: {CODE_PATH} when code is given"))
    code: CodeSource | None = Field(default=None, description=(
        f"mounted read-only at {CODE_PATH} in every replica"))
    replicas: Replicas
    # Not strict: JSON has no enums, so the strategy arrives as a string.
    strategy: Annotated[Strategy, Field(strict=False)] = Strategy.multi_worker_mirrored
    env: dict[EnvName, Annotated[str, StringConstraints(max_length=8192)]] = Field(
        default_factory=dict, max_length=256)
    volumes: list[VolumeSpec] = Field(default_factory=list, max_length=16)
    checkpoint: CheckpointPolicy = Field(default_factory=CheckpointPolicy)
    max_restarts: int = Field(default=3, ge=0, le=100, description=(
        "gang restarts from the newest checkpoint after a replica fails"))
    not_retryable: list[Annotated[str, StringConstraints(min_length=1, max_length=512),
                                  AfterValidator(_regex)]] = Field(
        default_factory=lambda: list(DEFAULT_NOT_RETRYABLE), max_length=32, description=(
            "regular expressions: a failed replica whose last log lines or error match one "
            "fails the job at once, without a restart"))
    priority: int = Field(default=0, ge=-100, le=100, description=(
        "higher goes first in the queue; above 0 for admins only"))

    @model_validator(mode="after")
    def _replicas_fit_strategy(self) -> JobCreate:
        why = check_replicas(self.strategy, self.replicas.counts())
        if why:
            raise ValueError(why)
        return self


class JobStatus(StrEnum):
    queued = "queued"  # waits for GPUs for every replica at once
    starting = "starting"  # placed; not every replica runs yet
    running = "running"
    restarting = "restarting"  # a replica failed: the gang starts again from a checkpoint
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class Restart(BaseModel):
    attempt: int = Field(description="the attempt it started (2: the first restart)")
    reason: str
    resumed_from_step: int | None = Field(description="the newest checkpoint's step, if any")
    at: datetime


class ReplicaPublic(BaseModel):
    name: str = Field(description="role-index, as in ?replica= of the logs")
    role: Role
    index: int
    unit: str
    state: str = Field(description="its unit's state")
    host: str | None
    address: str | None = Field(description="host:port in the cluster, once placed")
    gpus: list[UnitGpu] = Field(description="physical GPUs and the indices it sees")
    exit_code: int | None
    error: str | None
    restarts: int = Field(description="times the gang was restarted under it")
    tf_config: dict | None = Field(description=(  # type: ignore[type-arg]
        "its TF_CONFIG; before placement, addresses read 'pending'"))
    started_at: datetime | None
    finished_at: datetime | None


class Phase(BaseModel):
    name: str = Field(description="submitted, scheduled or running")
    at: datetime | None
    seconds: float | None = Field(description="time since the phase before")


class JobPublic(BaseModel):
    id: str
    name: str
    owner: str
    status: JobStatus
    reason: str | None
    position: int | None = Field(description="while queued: its place in the queue")
    attempt: int
    restarts: int
    max_restarts: int
    restart_history: list[Restart]
    spec: JobCreate
    replicas: list[ReplicaPublic]
    phases: list[Phase] = Field(description="the current attempt, timed")
    artifacts: str = Field(description="its folder in the artifact store")
    created_at: datetime
    finished_at: datetime | None


class CodeUpload(BaseModel):
    id: str = Field(description="name it in a job as code: {upload: ID}")
    files: int
    bytes: int = Field(description="unpacked")


class JobScalars(BaseModel):
    series: dict[str, list[tuple[int, float]]] = Field(description=(
        "[step, value] pairs by tag, read from the TensorBoard event files in its logs "
        "folder; a tag from a subfolder is prefixed with it (eval/accuracy)"))


class TensorBoardState(StrEnum):
    stopped = "stopped"  # never started, or stopped (idle, or asked to)
    starting = "starting"
    running = "running"
    stopping = "stopping"
    failed = "failed"


class TensorBoardPublic(BaseModel):
    state: TensorBoardState
    url: str | None = Field(description="while running: open it (the console's login)")
    reason: str | None
