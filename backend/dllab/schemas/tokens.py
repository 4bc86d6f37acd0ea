from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from dllab.schemas.common import Input


class TokenCreate(Input):
    name: Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
    expires_in_days: int | None = Field(
        default=None, ge=1, le=3650, description="none: valid until revoked"
    )


class TokenPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str = Field(description="first characters of the token, to tell tokens apart")
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="the secret; shown only in this answer")
