from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from dllab.schemas.common import Input, Name

# Keys are shaped like environment variable names: secrets often end up as ones.
SecretKey = Annotated[str, StringConstraints(
    min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
SecretValue = Annotated[str, StringConstraints(max_length=8192)]
SecretData = Annotated[dict[SecretKey, SecretValue], Field(
    min_length=1, max_length=32,
    description="1-32 KEY: value pairs; keys like environment variable names (letters, "
                "digits, '_', not starting with a digit, up to 128), values up to 8192 "
                "characters. Never shown again: only the keys are listed.")]


class SecretCreate(Input):
    name: Name
    data: SecretData


class SecretReplace(Input):
    data: SecretData


class SecretPublic(BaseModel):
    """A secret as anyone sees it: its name and key names, never its values."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    keys: list[str] = Field(description="the data's keys, sorted")
    created_at: datetime
    updated_at: datetime
