from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dllab.db.models.base import Base, UTCDateTime, utcnow


class Model(Base):
    """A named model in the registry: numbered versions, and labels (``stable``,
    ``canary``...) that point at versions. Names are unique per owner."""

    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid4 hex; store folder
    name: Mapped[str] = mapped_column(String(63))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # label -> version
    next_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModelVersion(Base):
    """One SavedModel, kept in the artifact store under ``models/<model id>/<version>/``,
    with the signatures read from it at registration."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"),
                                          index=True)
    version: Mapped[int] = mapped_column(Integer)
    # Where it came from: {"job": id, "path": sub-folder} | {"path": host folder} |
    # {"upload": size of the archive}
    source: Mapped[dict[str, Any]] = mapped_column(JSON)
    signatures: Mapped[dict[str, Any]] = mapped_column(JSON)  # dllab.serving.saved_model
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Service(Base):
    """A prediction service: replicas of one model behind the edge proxy at
    ``/serving/<name>/``. ``tracks`` say which version each set of replicas serves and its
    share of the traffic: ``stable``, and ``canary`` while one is tried. Names are unique
    across users: they are in the public URL."""

    __tablename__ = "services"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="RESTRICT"))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)  # the ServiceCreate, as updated since
    # [{"name": "stable"|"canary", "version", "weight", "replicas"}]
    tracks: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    token: Mapped[str | None] = mapped_column(Text, default=None)  # sealed (Fernet)
    reason: Mapped[str | None] = mapped_column(Text, default=None)  # why it is not serving
    # The autoscaler's last change, and since when it has wanted fewer replicas.
    scaled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    fewer_since: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ServiceReplica(Base):
    """One replica: a workload of one unit running dllab-serve. Routed once it answers its
    health check (``routed_at``), ready once Traefik has loaded that route (``ready_at``);
    on the way out it is unrouted first (``draining_since``) and stopped once its requests
    are done."""

    __tablename__ = "service_replicas"

    workload_id: Mapped[str] = mapped_column(ForeignKey("workloads.id", ondelete="CASCADE"),
                                             primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"),
                                            index=True)
    track: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    routed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    draining_since: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
