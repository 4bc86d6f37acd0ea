from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from dllab.schemas.common import Input

# Docker's reference grammar, less the registry port and digest: path components of
# lowercase letters and digits joined by '.', '_', '__' or '-', separated by '/'.
ImageName = Annotated[str, StringConstraints(
    min_length=1, max_length=255,
    pattern=r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$",
), Field(description="repository, e.g. dllab/runtime (lowercase; '/', '.', '_', '-')")]
ImageTag = Annotated[str, StringConstraints(
    min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$",
), Field(description="e.g. tf2.21-cpu (letters, digits, '_', '.', '-')")]
Short = Annotated[str, StringConstraints(min_length=1, max_length=32,
                                         pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")]


class ImageCreate(Input):
    name: ImageName
    tag: ImageTag
    framework: Short = Field(description="e.g. tensorflow")
    framework_version: Short = Field(description="e.g. 2.21.0")
    gpu: bool = Field(default=False, description="a GPU build of the framework")
    description: Annotated[str, StringConstraints(max_length=2000)] = ""


class ImagePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    tag: str
    reference: str = Field(description="name:tag, what units run")
    framework: str
    framework_version: str
    gpu: bool
    description: str
    created_at: datetime
