"""Control-plane settings, read from ``DLLAB_*`` environment variables.

Build them with ``get_settings()`` (or ``Settings()`` in tests); nothing reads the
environment at import time.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

HUB_BASE_URL = "/jupyter/"  # JupyterHub's prefix behind the edge proxy; the console has "/"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DLLAB_", extra="ignore")

    home: Path = Field(
        default=Path(".dllab"),
        description="State directory: SQLite database, embedded broker, unit logs, secrets.",
    )
    host: str = Field(default="127.0.0.1", description="Address the control plane listens on.")
    port: int = Field(default=8000, ge=1, le=65535,
                      description="Port the control plane listens on.")
    public_url: str | None = Field(
        default=None,
        description="URL users and agents reach the control plane by; default http://HOST:PORT.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default SQLite under DLLAB_HOME. "
        "Production: postgresql+psycopg://user:pass@host/db.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Celery broker on Redis. Without it an embedded filesystem broker under "
        "DLLAB_HOME is used, which only reaches agents on this machine.",
    )
    agent_broker_url: str | None = Field(
        default=None,
        description="Broker URL handed to agents when it differs from the one the control "
        "plane uses (e.g. Redis reached by another address from the GPU hosts).",
    )
    default_image: str = Field(
        default="dllab/base:bookworm",
        description="Image for units on docker hosts that name none (built by make images).",
    )
    admin_username: str = Field(default="admin", min_length=1, max_length=64)
    admin_password: str | None = Field(
        default=None,
        description="First admin's password; generated, printed once and saved under "
        "DLLAB_HOME when unset.",
    )
    access_token_hours: float = Field(default=24.0, gt=0, description="Lifetime of login tokens.")
    heartbeat_seconds: float = Field(default=5.0, gt=0, description="Agent heartbeat interval.")
    host_offline_seconds: float = Field(
        default=30.0, gt=0, description="A host silent this long is offline."
    )
    host_dead_seconds: float = Field(
        default=600.0, gt=0,
        description="A host offline this long is declared dead: its units are lost and "
                    "handled by their workload's policy. Until then they keep their GPUs.",
    )
    scheduler_seconds: float = Field(
        default=2.0, ge=0,
        description="How often the control plane's scheduler runs a pass and looks for dead "
                    "hosts, beside the passes that submissions and ended units set off; "
                    "0: only those (tests).",
    )
    edge_port: int = Field(
        default=8080, ge=1, le=65535,
        description="Port of the edge proxy (Traefik) that fronts the console, the API and "
                    "JupyterHub with its environments: the address users open.")
    edge_url: str | None = Field(
        default=None, description="URL users reach the edge proxy by; default "
                                  "http://HOST:EDGE_PORT.")
    edge_api_port: int = Field(
        default=8099, ge=1, le=65535,
        description="Port of the edge proxy's own API, on 127.0.0.1 only (JupyterHub uses it "
                    "to check its routes).")
    hub_port: int = Field(
        default=8081, ge=1, le=65535,
        description="Port of JupyterHub's own server (its API, which environments call). "
                    "It listens on every interface, as environments reach it from containers.")
    hub_connect_url: str | None = Field(
        default=None,
        description="URL environments reach JupyterHub's API by; default "
                    "http://host.docker.internal:HUB_PORT, right when agent and hub share a "
                    "host. Set it to the control-plane host's address on other hosts.")
    hub_start_timeout: int = Field(
        default=86_400, ge=10,
        description="Seconds JupyterHub waits for an environment to start, queue included.")
    environment_idle_minutes: float = Field(
        default=120, ge=0,
        description="An environment without activity this long (no kernel at work, no "
                    "terminal or notebook use, no SSH session) is stopped, its workspace "
                    "kept; 0: never.")
    environment_idle_check_seconds: float = Field(
        default=60, gt=0, description="How often idle environments are looked for.")
    environment_volume_roots: list[Path] = Field(
        default_factory=list,
        description="Host folders under which environments may mount volumes (e.g. NFS "
                    "mounts), as a JSON list; empty: no host-path volumes. Agents check "
                    "again against their own --volume-root.")
    tensorboard_idle_minutes: float = Field(
        default=30, gt=0,
        description="A job's TensorBoard nobody has opened this long is stopped (it starts "
                    "again on demand).")
    artifact_root: Path | None = Field(
        default=None,
        description="The artifact store's folder: each job's code, checkpoints, TensorBoard "
                    "logs and outputs, under jobs/<id>/. Replicas mount it, so on several "
                    "hosts it must be shared storage (NFS) at the same path everywhere, "
                    "and under each agent's --volume-root. Default: DLLAB_HOME/artifacts.")
    artifact_s3_url: str | None = Field(
        default=None, pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$",
        description="Keep jobs' artifacts in S3 instead, as s3://BUCKET/PREFIX: replicas "
                    "copy code and checkpoints in at start and send what they write back "
                    "every few seconds and at the end (the runtime image's dllab-artifacts).")
    artifact_s3_endpoint: str | None = Field(
        default=None, description="An S3-compatible server (MinIO, Ceph); default AWS. "
                                  "Both the control plane and the replicas must reach it.")
    artifact_s3_region: str | None = Field(default=None)
    artifact_s3_access_key: str | None = Field(default=None)
    artifact_s3_secret_key: str | None = Field(default=None)
    job_ports: tuple[int, int] = Field(
        default=(20000, 29999),
        description="Host ports a job replica may be given to serve its gRPC on (its "
                    "TF_CONFIG address), as [first, last]; open them between GPU hosts.")
    serving_seconds: float = Field(
        default=1.0, ge=0,
        description="How often the control plane checks every prediction service's replicas "
                    "(health, traffic), autoscales and rolls them over; 0: only when asked "
                    "through the API (tests).")
    monitoring_seconds: float = Field(
        default=1.0, ge=0,
        description="How often alert rules are judged against the latest GPU readings and "
                    "owed webhooks are sent; 0: only when asked (tests).")
    gpu_history_fine_hours: float = Field(
        default=1.0, gt=0, le=24,
        description="GPU readings are kept at 1 s resolution this long, then as 1 min "
                    "averages.")
    gpu_history_days: float = Field(
        default=30.0, gt=0, le=366, description="1 min GPU averages are kept this long.")
    secure_cookies: bool = Field(
        default=False, description="Mark session cookies Secure (set when served over HTTPS)."
    )
    local_mode: bool = Field(
        default=True,
        description="Embedded single-machine defaults. Off in production: then a database "
        "URL, a Redis URL and an admin password are required.",
    )

    @model_validator(mode="after")
    def _production_needs_real_parts(self) -> Settings:
        if not self.local_mode:
            missing = [
                name
                for name, value in (
                    ("DLLAB_DATABASE_URL", self.database_url),
                    ("DLLAB_REDIS_URL", self.redis_url),
                    ("DLLAB_ADMIN_PASSWORD", self.admin_password),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"DLLAB_LOCAL_MODE=false needs {', '.join(missing)}")
            if self.admin_password in {"admin", "changeme", "password"}:
                raise ValueError("DLLAB_ADMIN_PASSWORD is a placeholder; choose a real one")
        return self

    @model_validator(mode="after")
    def _s3_store_has_keys(self) -> Settings:
        if self.artifact_s3_url and not (self.artifact_s3_access_key
                                         and self.artifact_s3_secret_key):
            raise ValueError("DLLAB_ARTIFACT_S3_URL needs DLLAB_ARTIFACT_S3_ACCESS_KEY and "
                             "DLLAB_ARTIFACT_S3_SECRET_KEY")
        return self

    @model_validator(mode="after")
    def _job_ports_in_order(self) -> Settings:
        first, last = self.job_ports
        if not 1024 <= first <= last <= 65535:
            raise ValueError("DLLAB_JOB_PORTS must be [first, last] within 1024-65535")
        return self

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'dllab.db').resolve()}"

    @property
    def broker_url(self) -> str:
        return self.redis_url or f"filesystem://{(self.home / 'broker').resolve()}"

    @property
    def broker_url_for_agents(self) -> str:
        return self.agent_broker_url or self.broker_url

    @property
    def url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def activity_seconds(self) -> int:
        """How often environments report their use: often enough for the idle limit."""
        if not self.environment_idle_minutes:
            return 300
        return max(1, min(60, int(self.environment_idle_minutes * 60 / 4)))

    @property
    def internal_url(self) -> str:
        """Where processes on this machine (edge proxy, hub) reach the control plane."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def public_edge_url(self) -> str:
        return self.edge_url or f"http://{self.host}:{self.edge_port}"

    @property
    def hub_url(self) -> str:
        """Where the control plane reaches JupyterHub's API (on this machine)."""
        return f"http://127.0.0.1:{self.hub_port}{HUB_BASE_URL}hub/api"

    @property
    def hub_token_file(self) -> Path:
        """The secret JupyterHub and the control plane share (made by ``dllab hub``)."""
        return self.home / "hub" / "dllab-token"

    @property
    def edge_dir(self) -> Path:
        """The edge proxy's configuration: ``traefik.yaml`` and the watched ``dynamic/``."""
        return self.home / "edge"

    @property
    def unit_logs_dir(self) -> Path:
        """Every unit's log, kept after it ends (``LogStore``)."""
        return self.home / "logs" / "units"

    @property
    def artifacts_dir(self) -> Path:
        return (self.artifact_root or self.home / "artifacts").resolve()


def get_settings() -> Settings:
    return Settings()
