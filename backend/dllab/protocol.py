"""What the control plane and the agents say to each other.

This and ``dllab.dcgm`` (GPU metrics names) are the only modules of the control plane that the
agent imports. This one holds:

- the Celery task names and the queue naming rule (control plane -> agent);
- the unit spec an agent receives, and the unit report it sends back;
- the HTTP payloads an agent posts to ``/api/v1/agent/...`` with its host token.

Labels put on every container or process let an agent that restarts find the units it
runs (see ``LABEL_*``).
"""

from __future__ import annotations

import os
import uuid
from enum import StrEnum
from pathlib import Path
from time import monotonic
from typing import Annotated, Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.json import dumps
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# Celery tasks the agent serves. Arguments are plain JSON: a spec dict, or a unit id.
TASK_START_UNIT = "dllab.start_unit"
TASK_STOP_UNIT = "dllab.stop_unit"
TASK_REMOVE_WORKSPACE = "dllab.remove_workspace"

LABEL_UNIT = "dllab.unit"
LABEL_KIND = "dllab.kind"
LABEL_OWNER = "dllab.owner"
LABEL_WORKLOAD = "dllab.workload"
LABEL_HOST = "dllab.host"
# The physical indices of the GPUs a unit holds ("0,2"): how an agent attributes its GPUs'
# readings to units, also after a restart. Set by the runtime drivers, not by the caller.
LABEL_GPUS = "dllab.gpus"
# The agent that made a container (an id kept in its state dir): agents that share one
# engine, as in tests and demos, each find only their own.
LABEL_AGENT = "dllab.agent"

MAX_LOG_LINE = 65_536  # characters; agents cut longer lines (a progress bar never ends one)

# Bounds that keep what agents send storable on every database.
UnitId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Port = Annotated[int, Field(ge=1, le=65535)]
ExitCode = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
EpochSeconds = Annotated[float, Field(ge=0, le=4_102_444_800)]  # up to the year 2100


def host_queue(host_name: str) -> str:
    """The Celery queue that carries commands for one host."""
    return f"host.{host_name}"


class RuntimeKind(StrEnum):
    docker = "docker"
    process = "process"


class UnitState(StrEnum):
    """Where a unit is in its life, in order. The last four are final. Agents never see a
    queued unit: it has no host yet."""

    queued = "queued"  # waits for the scheduler to give it a host and GPUs
    starting = "starting"  # sent to its host's agent, which has not reported it running
    running = "running"  # the agent reports it alive
    stopping = "stopping"  # a stop was asked; the agent has not confirmed it gone
    stopped = "stopped"  # stopped on request and removed
    exited = "exited"  # ended by itself with exit code 0
    failed = "failed"  # ended with a non-zero exit code, or could not start
    lost = "lost"  # its host no longer knows it

    @property
    def final(self) -> bool:
        return self in FINAL_UNIT_STATES


FINAL_UNIT_STATES = frozenset(
    {UnitState.stopped, UnitState.exited, UnitState.failed, UnitState.lost}
)


class ObservedState(StrEnum):
    """What a runtime driver sees of one unit (``Runtime.inspect``)."""

    starting = "starting"  # created, not yet running
    running = "running"
    exited = "exited"  # ended; exit_code says how
    missing = "missing"  # the runtime has no such unit


class Mount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str
    target: str
    read_only: bool = False


WorkspaceId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]

# The uid that owns a workspace: the runtime image's user ``dev``.
WORKSPACE_UID = 1000


class Workspace(BaseModel):
    """A folder that outlives the units that mount it (an environment's home): the agent
    makes it under its workspace root, owned by WORKSPACE_UID, and removes it when told."""

    model_config = ConfigDict(extra="forbid")

    id: WorkspaceId
    target: str


class UnitSpec(BaseModel):
    """Everything an agent needs to start one unit. Sent as the ``start_unit`` argument."""

    model_config = ConfigDict(extra="forbid")

    unit_id: UnitId
    name: str
    image: str | None = None  # docker runtime; the process runtime ignores it
    # The runtime it must run on (environments need their image: docker); None: either.
    runtime: RuntimeKind | None = None
    command: list[str]
    env: dict[str, str] = Field(default_factory=dict)
    working_dir: str | None = None
    gpus: list[int] = Field(default_factory=list)  # physical indices on the host
    gpus_simulated: bool = False  # no device request reaches the engine
    cpus: float | None = None
    memory_mib: int | None = None
    ports: list[Port] = Field(default_factory=list)  # ports the unit listens on
    # A port the unit listens on and its host publishes under the same number, picked by
    # the control plane at placement so that a gang (a job's replicas) can be told each
    # other's addresses before any starts. 0 in a queued unit's spec: one is wanted.
    host_port: Annotated[int, Field(ge=0, le=65535)] | None = None
    mounts: list[Mount] = Field(default_factory=list)
    workspace: Workspace | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class UnitReport(BaseModel):
    """What an agent knows of one unit; sent in heartbeats and after each command."""

    model_config = ConfigDict(extra="forbid")

    unit_id: UnitId
    state: ObservedState
    exit_code: ExitCode | None = None
    error: str | None = Field(default=None, max_length=8192)
    runtime_id: str | None = Field(default=None, max_length=128)  # container or process id
    ports: dict[Port, Port] = Field(default_factory=dict, max_length=64)  # unit -> host port
    started_at: EpochSeconds | None = None
    finished_at: EpochSeconds | None = None


class GpuInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0, le=1023)
    uuid: str = Field(min_length=1, max_length=128)
    model: str = Field(max_length=255)
    memory_total_mib: int = Field(ge=0, le=2**31 - 1)
    memory_used_mib: int = Field(ge=0, le=2**31 - 1)
    # What NVML reads, where the device reports it (None: it does not).
    utilization_pct: int | None = Field(default=None, ge=0, le=100, description=(
        "percent of the time a kernel ran lately"))
    temperature_c: int | None = Field(default=None, ge=-100, le=200)
    power_w: float | None = Field(default=None, ge=0, le=100_000)
    sm_clock_mhz: int | None = Field(default=None, ge=0, le=100_000)
    ecc_uncorrected: int | None = Field(default=None, ge=0, le=2**62, description=(
        "uncorrected ECC errors since the driver loaded"))
    xid_last: int | None = Field(default=None, ge=0, le=2**31 - 1, description=(
        "the last XID error the driver reported since the agent started"))
    simulated: bool = False


class GpuHolder(BaseModel):
    """The unit that holds a GPU, as its agent knows it from the unit's labels."""

    model_config = ConfigDict(extra="forbid")

    unit: UnitId
    workload: str | None = Field(default=None, max_length=64)
    kind: str | None = Field(default=None, max_length=16)
    owner: str | None = Field(default=None, max_length=64)
    visible_index: int = Field(ge=0, le=1023, description="the index the unit sees it as")


class GpuSample(GpuInfo):
    """One GPU's readings at one moment, and who held it then."""

    holder: GpuHolder | None = None


class MetricsReport(BaseModel):
    """What an agent samples, every second by default (``POST /api/v1/agent/metrics``)."""

    model_config = ConfigDict(extra="forbid")

    taken_at: EpochSeconds
    gpus: list[GpuSample] = Field(max_length=64)


class AgentRegister(BaseModel):
    model_config = ConfigDict(extra="forbid")

    runtime: RuntimeKind
    address: str = Field(max_length=255, description="address other hosts reach this one by")
    version: str = Field(max_length=64)
    gpus: list[GpuInfo] = Field(max_length=64)
    units: list[UnitReport] = Field(max_length=10_000)


class AgentRegistered(BaseModel):
    host_id: int
    name: str
    queue: str
    broker_url: str
    heartbeat_seconds: float


class AgentHeartbeat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gpus: list[GpuInfo] = Field(max_length=64)
    units: list[UnitReport] = Field(max_length=10_000)


class UnitLogLines(BaseModel):
    """A batch of log lines; ``offset`` is the index of the first one in the unit's log.

    The control plane keeps only lines past what it already has, so a batch sent twice
    (an agent that restarted) is harmless. An empty batch asks where to resume.
    """

    model_config = ConfigDict(extra="forbid")

    offset: int = Field(ge=0, le=2**62)
    lines: list[Annotated[str, StringConstraints(max_length=MAX_LOG_LINE)]] = Field(
        max_length=10_000)


class UnitLogAck(BaseModel):
    next_offset: int


def celery_config(broker_url: str) -> dict[str, Any]:
    """Celery settings both sides use for one broker URL.

    ``filesystem:///DIR`` is the embedded broker (one host only): messages are files
    under DIR, so ``make run`` needs no broker server.
    """
    config: dict[str, Any] = {
        "broker_url": broker_url,
        "task_acks_late": True,  # a command survives an agent killed mid-task
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_backend": None,
        "task_ignore_result": True,
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
    }
    if broker_url.startswith("filesystem://"):
        folder = Path(broker_url.removeprefix("filesystem://"))
        (folder / "queue").mkdir(parents=True, exist_ok=True)
        (folder / "processed").mkdir(parents=True, exist_ok=True)
        (folder / "control").mkdir(parents=True, exist_ok=True)
        config["broker_url"] = "filesystem://"
        config["broker_transport"] = "dllab.protocol:FilesystemTransport"
        config["broker_transport_options"] = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),  # kombu's default is ./control
            "store_processed": False,
            "polling_interval": 0.05,
        }
    return config


class _AtomicFilesystemChannel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        """Write the message under a name readers skip, then rename it into place. Kombu's
        own ``_put`` writes in place, and a reader that takes the file before the write
        reads it empty: the agent's worker then dies on the JSON."""
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.partial")
        try:
            with open(partial, "wb") as file:
                file.write(dumps(payload).encode())
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"cannot add {final!r} to the queue folder") from exc


class FilesystemTransport(filesystem.Transport):
    """The embedded broker's transport: kombu's, with whole messages only."""

    Channel = _AtomicFilesystemChannel
