from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

# Names that end up in queue names, container names and URLs: DNS-label shaped.
NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=63, pattern=NAME_PATTERN),
    Field(description="lowercase letters, digits and '-', 1-63 characters, "
          "starting and ending with a letter or digit"),
]


def _no_nul(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    if isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key)
            _no_nul(item)
    elif isinstance(value, list):
        for item in value:
            _no_nul(item)
    return value


class Input(BaseModel):
    """Base of every request body: unknown fields, silent type coercion and NUL characters
    (which PostgreSQL cannot store) are refused."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        return _no_nul(value)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    data: list[T]
    count: int = Field(description="how many match in all, not just on this page")
