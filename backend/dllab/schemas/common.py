from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# Names that end up in queue names, container names and URLs: DNS-label shaped.
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=63, pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"),
    Field(description="lowercase letters, digits and '-', 1-63 characters, "
          "starting and ending with a letter or digit"),
]


class Input(BaseModel):
    """Base of every request body: unknown fields and silent type coercion are refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    data: list[T]
    count: int = Field(description="how many match in all, not just on this page")


class Message(BaseModel):
    detail: str
    reason: str | None = None
