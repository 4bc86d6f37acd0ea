from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dllab.db.models.base import Base, UTCDateTime, utcnow


class Image(Base):
    """A runtime image an admin offers to users: several framework versions live side by
    side, each a local image on the docker hosts (there may be no registry)."""

    __tablename__ = "images"
    __table_args__ = (UniqueConstraint("name", "tag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))  # e.g. dllab/runtime
    tag: Mapped[str] = mapped_column(String(128))  # e.g. tf2.21-cpu
    framework: Mapped[str] = mapped_column(String(32))  # e.g. tensorflow
    framework_version: Mapped[str] = mapped_column(String(32))
    gpu: Mapped[bool] = mapped_column(default=False)  # a GPU build of the framework
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def reference(self) -> str:
        return f"{self.name}:{self.tag}"
