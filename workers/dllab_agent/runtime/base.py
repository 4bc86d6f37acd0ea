"""The runtime driver contract: how an agent runs units.

A driver runs *units* (one container or one process each) and finds them again after the
agent restarts. Two real drivers implement it: ``docker`` and ``process``.

To write a driver, implement every method of ``Runtime``:

``start(spec) -> UnitReport``
    Create and start the unit described by ``spec`` and return its report (state
    ``starting`` or ``running``; ``ports`` maps each ``spec.ports`` entry to the host port
    it is reached on). Idempotent by ``spec.unit_id``: if a unit with that id already
    exists, in any state, nothing new is started and its current report is returned.
    The unit carries the labels ``dllab.unit=<unit_id>`` plus ``spec.labels`` so that
    ``list`` finds it. GPUs: the unit sees ``spec.gpus`` (physical indices) as 0..n-1.
    On failure to start, nothing is left behind and ``RuntimeStartError`` is raised.

``stop(unit_id, timeout) -> None``
    Ask the unit to end (SIGTERM), kill it after ``timeout`` seconds, then remove it
    (container, or the process's working state) — except its log, which stays readable.
    Idempotent: a unit that is missing, or already being removed, is a success.

``inspect(unit_id) -> UnitReport``
    The unit's state as the runtime sees it now: ``starting``, ``running``, ``exited``
    (with ``exit_code``; ``None`` where it cannot be known) or ``missing``.

``logs(unit_id, follow=False, tail=None) -> Iterator[str]``
    The unit's output (stdout and stderr together), one line per item without the
    newline, each ``"<RFC 3339 UTC timestamp> <text>"``. ``tail`` limits to the last N
    lines. With ``follow`` it keeps yielding until the unit ends. A missing unit yields
    nothing.

``list() -> list[UnitReport]``
    Every unit this runtime holds on this host (found by the ``dllab.unit`` label), in any
    state, including ones started before the agent last restarted.

``holdings() -> list[Holding]``
    The running units that hold GPUs, with their labels (``start`` adds ``dllab.gpus``:
    the physical indices, in the order the unit sees them). Called every second by the
    GPU sampler: it must be cheap.

``usage(holding) -> Usage | None``
    CPU time and memory the unit has used so far (None: it is gone). Drives simulated GPUs.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dllab.protocol import LABEL_GPUS, RuntimeKind, UnitReport, UnitSpec


@dataclass(frozen=True)
class Holding:
    """A running unit that holds GPUs."""

    unit_id: str
    runtime_id: str  # container id, or the supervisor's pid
    gpus: tuple[int, ...]  # physical indices; the unit sees them as 0..n-1 in this order
    labels: dict[str, str]


@dataclass(frozen=True)
class Usage:
    cpu_seconds: float  # since the unit started, all its processes together
    memory_mib: float  # resident now


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE_MIB = (os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096) / 2**20


def process_tree_usage(pid: int) -> Usage | None:
    """CPU time and resident memory of ``pid`` and its descendants (Linux /proc); None
    where the process is gone or /proc does not say."""
    cpu = memory = 0.0
    pending, seen = [pid], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
            pages = int(Path(f"/proc/{current}/statm").read_text().split()[1])
            children = [Path(f"/proc/{current}/task/{t}/children").read_text().split()
                        for t in os.listdir(f"/proc/{current}/task")]
        except (OSError, ValueError, IndexError):
            if current == pid:
                return None
            continue  # a descendant that just ended
        fields = stat[stat.rindex(")") + 2:].split()  # fields from 3 on (proc(5))
        cpu += (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
        memory += pages * _PAGE_MIB
        pending.extend(int(child) for group in children for child in group)
    return Usage(cpu_seconds=cpu, memory_mib=memory)


def gpu_label(gpus: list[int]) -> dict[str, str]:
    """The label that tells which GPUs a unit holds; none for a unit without GPUs."""
    return {LABEL_GPUS: ",".join(str(gpu) for gpu in gpus)} if gpus else {}


def labelled_gpus(labels: dict[str, str]) -> tuple[int, ...]:
    value = labels.get(LABEL_GPUS, "")
    return tuple(int(gpu) for gpu in value.split(",") if gpu.strip().isdigit())


class RuntimeStartError(Exception):
    """The unit could not be started; ``str(exc)`` says why in words a user can act on."""


class Runtime(ABC):
    kind: RuntimeKind

    @abstractmethod
    def start(self, spec: UnitSpec) -> UnitReport: ...

    @abstractmethod
    def stop(self, unit_id: str, timeout: float = 10.0) -> None: ...

    @abstractmethod
    def inspect(self, unit_id: str) -> UnitReport: ...

    @abstractmethod
    def logs(
        self, unit_id: str, follow: bool = False, tail: int | None = None
    ) -> Iterator[str]: ...

    @abstractmethod
    def list(self) -> list[UnitReport]: ...

    @abstractmethod
    def holdings(self) -> list[Holding]: ...

    @abstractmethod
    def usage(self, holding: Holding) -> Usage | None: ...
