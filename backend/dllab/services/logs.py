"""Unit logs, kept by the control plane in one file per unit so they outlive the unit.

Agents ship lines in numbered batches (``protocol.UnitLogLines``); ``Unit.log_lines``
counts what is stored, so a batch sent again after an agent restart is not stored twice.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path


class LogStore:
    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def path(self, unit_id: str) -> Path:
        return self.directory / f"{unit_id}.log"

    def append(self, unit_id: str, stored: int, offset: int, lines: list[str]) -> int:
        """Store the part of ``lines`` (numbered from ``offset``) past the ``stored`` lines
        already kept; return the new count. A gap (offset past what is stored) is refused
        by keeping nothing, and the answer tells the agent where to resume."""
        if offset > stored:
            return stored
        new = lines[stored - offset:]
        if new:
            with self.path(unit_id).open("a", encoding="utf-8") as f:
                f.writelines(line.replace("\n", " ") + "\n" for line in new)
        return stored + len(new)

    def read(self, unit_id: str, tail: int | None = None, upto: int | None = None) -> list[str]:
        """The stored lines (the last ``tail`` of them), of the first ``upto`` bytes."""
        path = self.path(unit_id)
        if not path.exists():
            return []
        with path.open("rb") as f:
            data = f.read(upto) if upto is not None else f.read()
        # Split on "\n" alone: a line may hold a carriage return (progress bars do).
        lines = data.decode("utf-8", "replace").split("\n")[:-1]
        return list(deque(lines, maxlen=tail)) if tail else lines

    async def follow(self, unit_id: str, tail: int | None,
                     still_running: Callable[[], Awaitable[bool]]) -> AsyncIterator[str]:
        """Yield the stored lines, then new ones as they arrive, until the unit has ended
        and nothing more is stored."""
        path = self.path(unit_id)
        position = path.stat().st_size if path.exists() else 0
        for line in self.read(unit_id, tail, upto=position):
            yield line + "\n"
        while True:
            running = await still_running()
            if path.exists() and path.stat().st_size > position:
                with path.open("rb") as f:
                    f.seek(position)
                    chunk = f.read()
                # A line being written may be seen half; keep it for the next round.
                complete = chunk[: chunk.rfind(b"\n") + 1]
                position += len(complete)
                for line in complete.decode("utf-8", "replace").split("\n")[:-1]:
                    yield line + "\n"
            elif not running:
                return
            await asyncio.sleep(0.25)

