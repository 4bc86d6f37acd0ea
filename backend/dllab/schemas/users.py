from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from dllab.db.models import UserRole
from dllab.schemas.common import Input
from dllab.security import parse_ssh_public_key

USERNAME_PATTERN = r"^[a-z][a-z0-9_.-]*$"
Username = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=USERNAME_PATTERN),
    Field(description="lowercase, starts with a letter; letters, digits, '_', '.', '-'"),
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]


class UserCreate(Input):
    username: Username
    password: Password
    # Not strict: JSON has no enums, so the role arrives as a string.
    role: Annotated[UserRole, Field(strict=False)] = UserRole.user


class UserUpdate(Input):
    gpu_quota: int | None = Field(default=None, ge=0, le=1_000_000, description=(
        "most GPUs the user's units may hold at once; null: unlimited. Work past it waits "
        "in the queue"))


def _ssh_key(text: str) -> str:
    return parse_ssh_public_key(text).line


SshKeyLine = Annotated[str, StringConstraints(min_length=1, max_length=16384),
                       AfterValidator(_ssh_key)]


class SshKeysUpdate(Input):
    keys: list[SshKeyLine] = Field(max_length=32, description=(
        "OpenSSH public keys, each the line of a .pub file; they replace the ones kept"))


class SshKeyPublic(BaseModel):
    key: str
    type: str
    comment: str
    fingerprint: str = Field(description="as ssh-keygen -l shows it")


class SshKeysPublic(BaseModel):
    keys: list[SshKeyPublic]


class LoginRequest(Input):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    role: UserRole
    gpu_quota: int | None = Field(description="null: unlimited")
    created_at: datetime


class SessionPublic(BaseModel):
    user: UserPublic
    csrf_token: str = Field(description="send it back as the X-CSRF-Token header")
    expires_at: datetime


class AccessToken(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
