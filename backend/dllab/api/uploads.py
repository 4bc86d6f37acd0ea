"""Archives uploaded as a raw request body (job code, SavedModels): streamed to a file,
refused past a size or empty, and described in the OpenAPI document as binary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request

from dllab.errors import BadRequest, PayloadTooLarge

# openapi_extra of a route whose body is the archive itself
BINARY_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


async def receive(request: Request, into: Path, limit: int, what: str) -> None:
    """Write the body to ``into``; ``what`` it must be names it in the errors."""
    size = 0
    with into.open("wb") as file:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the archive is over {limit} bytes",
                                      reason="archive_too_large")
            file.write(chunk)
    if size == 0:
        raise BadRequest(f"the body must be {what}; it was empty", reason="bad_archive")
