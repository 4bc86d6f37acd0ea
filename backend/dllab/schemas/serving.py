"""The model registry's and prediction services' requests and answers."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from dllab.schemas.common import Input, Name
from dllab.schemas.environments import AbsolutePath
from dllab.schemas.units import UnitGpu

LABEL_PATTERN = r"^[a-z][a-z0-9-]{0,31}$"
Label = Annotated[str, StringConstraints(pattern=LABEL_PATTERN), Field(
    description="lowercase letters, digits and '-', starting with a letter, 1-32 "
                "characters (e.g. stable, canary)")]
Version = Annotated[int, Field(ge=1, le=2**31 - 1)]
Description = Annotated[str, StringConstraints(max_length=4096)]
ImageRef = Annotated[str, StringConstraints(min_length=3, max_length=400)]

# TensorFlow Serving's REST port, inside every replica.
SERVE_PORT = 8501


class ModelCreate(Input):
    name: Name
    description: Description = ""


class ModelUpdate(Input):
    description: Description


def _relative(path: str) -> str:
    if path.startswith("/") or ".." in path.split("/"):
        raise ValueError("must be a path inside the output folder: relative, without '..'")
    return path


class JobOutput(Input):
    id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")] = Field(
        description="a job of yours")
    path: Annotated[str, StringConstraints(max_length=1024),
                    AfterValidator(_relative)] = Field(
        default="", description="the SavedModel's folder inside the job's output folder "
                                "(DLLAB_OUTPUT_DIR); empty: the output folder itself")


class VersionCreate(Input):
    """Where the SavedModel is: a job's output, or a folder on the hosts. (To upload a
    .tar.gz instead, POST it to .../versions/upload.)"""

    job: JobOutput | None = None
    path: AbsolutePath | None = Field(default=None, description=(
        "a SavedModel folder under a root the admin allows "
        "(DLLAB_ENVIRONMENT_VOLUME_ROOTS), e.g. on a shared volume"))

    @model_validator(mode="after")
    def _one_source(self) -> VersionCreate:
        if (self.job is None) == (self.path is None):
            raise ValueError("give either job (a job's output) or path (a folder)")
        return self


class LabelSet(Input):
    version: Version


class TensorSpec(BaseModel):
    dtype: str = Field(description="float32, int64, string...")
    shape: list[int] | None = Field(description="-1: any size; null: any rank")
    tensor: str = Field(description="the graph tensor it feeds or is read from")


class Signature(BaseModel):
    method_name: str
    inputs: dict[str, TensorSpec]
    outputs: dict[str, TensorSpec]


class VersionPublic(BaseModel):
    version: int
    source: dict[str, Any] = Field(description=(
        "{job, path} | {path} | {upload}: where it was registered from"))
    signatures: dict[str, Signature]
    size_bytes: int
    labels: list[str]
    location: str = Field(description="its folder in the artifact store")
    created_at: datetime


class ModelPublic(BaseModel):
    id: str
    name: str
    owner: str
    description: str
    labels: dict[str, int] = Field(description="label -> version")
    versions: int = Field(description="how many")
    latest: int | None = Field(description="the newest version")
    created_at: datetime


class Metric(StrEnum):
    rps = "rps"  # requests per second per replica
    inflight = "inflight"  # requests being answered, per replica
    latency_p95 = "latency_p95"  # milliseconds, over the service
    gpu_util = "gpu_util"  # percent, mean over the replicas' GPUs


class Autoscale(Input):
    min: int = Field(default=1, ge=1, le=64)
    max: int = Field(default=4, ge=1, le=64)
    metric: Annotated[Metric, Field(strict=False)] = Metric.rps
    target: float = Field(gt=0, le=1e9, description=(
        "the metric's value per replica to keep (rps, inflight, gpu_util in %) or the "
        "latency to keep under (latency_p95, ms)"))
    scale_down_delay_seconds: float = Field(default=60, ge=0, le=3600, description=(
        "how long fewer replicas must be enough before any is removed"))

    @model_validator(mode="after")
    def _bounds(self) -> Autoscale:
        if self.min > self.max:
            raise ValueError(f"autoscale min ({self.min}) is above max ({self.max})")
        return self


class Batching(Input):
    max_batch_size: int = Field(default=32, ge=1, le=4096, description=(
        "rows the server runs as one batch, gathered from concurrent requests"))
    batch_timeout_ms: float = Field(default=2, ge=0, le=1000, description=(
        "how long the first request of a batch waits for others"))


class VersionChoice(Input):
    """A version by number or by label; neither: the newest."""

    version: Version | None = None
    label: Label | None = None

    @model_validator(mode="after")
    def _not_both(self) -> VersionChoice:
        if self.version is not None and self.label is not None:
            raise ValueError("give version or label, not both")
        return self


class ServiceCreate(VersionChoice):
    name: Name = Field(description="in the public URL: /serving/NAME/v1/models/MODEL:predict")
    model: Name = Field(description="one of your models, by name")
    replicas: int = Field(default=1, ge=0, le=64, description=(
        "replicas to keep; with autoscale, where it starts"))
    gpus_per_replica: int = Field(default=0, ge=0, le=16)
    cpus: float | None = Field(default=None, gt=0, le=1024)
    memory_mib: int | None = Field(default=None, ge=256, le=16 * 1024 * 1024)
    image: ImageRef | None = Field(default=None, description=(
        "an image of the catalogue with TensorFlow and dllab-serve; default the "
        "catalogue's default"))
    batching: Batching = Field(default_factory=Batching)
    autoscale: Autoscale | None = None
    token: bool = Field(default=False, description=(
        "require an access token (Authorization: Bearer ...), shown once in the answer"))


class ServiceUpdate(VersionChoice):
    """A new version (or label) rolls the stable replicas over one at a time; replicas
    and autoscale change how many there are."""

    replicas: int | None = Field(default=None, ge=0, le=64)
    autoscale: Autoscale | None = None
    autoscale_off: bool = Field(default=False, description="stop autoscaling")


class CanaryCreate(VersionChoice):
    weight: int = Field(default=10, ge=1, le=99, description="percent of requests")
    replicas: int = Field(default=1, ge=1, le=64)


class ServiceStatus(StrEnum):
    starting = "starting"  # no replica serves yet
    serving = "serving"  # every wanted replica serves the wanted version
    updating = "updating"  # replicas are being replaced, added or removed
    degraded = "degraded"  # serving, with fewer replicas than wanted
    failing = "failing"  # replicas keep failing to start; see reason
    stopped = "stopped"  # no replicas wanted


class Track(BaseModel):
    name: str = Field(description="stable, or canary")
    version: int
    weight: int = Field(description="percent of the requests without a version")
    replicas: int = Field(description="wanted")


class ReplicaPublic(BaseModel):
    id: str = Field(description="its workload")
    unit: str = Field(description="its unit: GET /api/v1/units/ID/logs")
    track: str
    version: int
    state: str = Field(description="queued, starting, ready, draining or ended (the unit's "
                                   "state when it ended)")
    host: str | None
    address: str | None = Field(description="host:port the edge proxy sends requests to")
    gpus: list[UnitGpu]
    error: str | None
    created_at: datetime
    ready_at: datetime | None


class ServicePublic(BaseModel):
    id: str
    name: str
    owner: str
    model: str
    model_id: str
    status: ServiceStatus
    reason: str | None
    url: str = Field(description="POST {url}:predict")
    tracks: list[Track]
    replicas: list[ReplicaPublic] = Field(description="live ones, and the last ended ones")
    token_required: bool
    spec: dict[str, Any]
    created_at: datetime


class ServiceToken(BaseModel):
    token: str = Field(description="send it as Authorization: Bearer TOKEN; shown only now")


class ServiceCreated(ServicePublic):
    token: str | None = Field(description="when one was asked for: shown only now")


class MetricsPoint(BaseModel):
    at: float = Field(description="epoch seconds")
    rps: float
    errors: float = Field(description="answers with a 5xx status, per second")
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    inflight: float
    replicas: int = Field(description="routed")


class ServiceMetrics(BaseModel):
    points: list[MetricsPoint] = Field(description="oldest first, one every few seconds")
