from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dllab.db.models.base import Base, UTCDateTime, utcnow


class Secret(Base):
    """A user's named credentials (S3 keys, say): a few KEY=value pairs, encrypted with the
    control plane's Fernet key (DLLAB_HOME/secret-key). Only the key names are in clear."""

    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    ciphertext: Mapped[str] = mapped_column(Text)  # a Fernet token of the data, as JSON
    keys: Mapped[list[str]] = mapped_column(JSON, default=list)  # the data's keys, sorted
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
