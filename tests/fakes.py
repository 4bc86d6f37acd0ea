"""In-memory runtime drivers for tests of the logic above the driver (agent, control plane).

``FakeRuntime`` implements the whole ``Runtime`` contract in memory: idempotent start,
labels, ports, states, exit codes, logs with timestamps (``follow`` blocks until the unit
ends), stop that keeps the log. It is never a stand-in for the drivers' own tests.

Tests steer it with ``emit(unit_id, *texts)`` (output) and ``finish(unit_id, code)`` (the
unit ends by itself), and read ``started`` (every spec that really started, in order) and
``stopped`` (every unit id whose stop removed something).

One subclass per failure mode: ``NeverStartsRuntime``, ``CrashingRuntime``.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from dllab.protocol import ObservedState, RuntimeKind, UnitReport, UnitSpec
from dllab_agent.runtime.base import (
    Holding,
    Runtime,
    RuntimeStartError,
    Usage,
    gpu_label,
    labelled_gpus,
)

FIRST_HOST_PORT = 40000


def timestamped(text: str) -> str:
    return f"{datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')} {text}"


class FakeRuntime(Runtime):
    """Units live in a dict; each new unit starts with ``log_lines`` as its output."""

    def __init__(
        self, kind: RuntimeKind = RuntimeKind.process, log_lines: Iterable[str] = ()
    ) -> None:
        self.kind = kind
        self.started: list[UnitSpec] = []
        self.stopped: list[str] = []
        self._log_lines = list(log_lines)
        self._units: dict[str, UnitReport] = {}
        self._logs: dict[str, list[str]] = {}  # kept after stop, as the contract asks
        self._changed = threading.Condition()
        self._host_ports = itertools.count(FIRST_HOST_PORT)
        self._runtime_ids = itertools.count(1)
        self.busy: dict[str, float] = {}  # unit id -> CPU cores it keeps busy

    def start(self, spec: UnitSpec) -> UnitReport:
        with self._changed:
            if spec.unit_id in self._units:
                return self._units[spec.unit_id].model_copy()
            self.started.append(spec)
            self._units[spec.unit_id] = UnitReport(
                unit_id=spec.unit_id,
                state=ObservedState.running,
                runtime_id=f"fake-{next(self._runtime_ids)}",
                ports={port: next(self._host_ports) for port in spec.ports},
                started_at=time.time(),
            )
            self._logs[spec.unit_id] = [timestamped(text) for text in self._log_lines]
            self._changed.notify_all()
            return self._units[spec.unit_id].model_copy()

    def stop(self, unit_id: str, timeout: float = 10.0) -> None:
        with self._changed:
            if self._units.pop(unit_id, None) is not None:
                self.stopped.append(unit_id)
            self._changed.notify_all()

    def inspect(self, unit_id: str) -> UnitReport:
        with self._changed:
            report = self._units.get(unit_id)
            if report is None:
                return UnitReport(unit_id=unit_id, state=ObservedState.missing)
            return report.model_copy()

    def logs(self, unit_id: str, follow: bool = False, tail: int | None = None) -> Iterator[str]:
        with self._changed:
            lines = self._logs.get(unit_id, [])
            sent = max(len(lines) - tail, 0) if tail is not None else 0
        while True:
            with self._changed:
                if follow:
                    self._changed.wait_for(
                        lambda sent=sent: len(lines) > sent or not self._running(unit_id)
                    )
                fresh, sent = lines[sent:], len(lines)
                more = follow and (fresh or self._running(unit_id))
            yield from fresh  # outside the lock: the consumer may call back into us
            if not more:
                return

    def list(self) -> list[UnitReport]:
        with self._changed:
            return [report.model_copy() for report in self._units.values()]

    def holdings(self) -> list[Holding]:
        with self._changed:
            specs = {spec.unit_id: spec for spec in self.started}
            return [Holding(unit_id=unit_id, runtime_id=report.runtime_id or "",
                            gpus=labelled_gpus(gpu_label(specs[unit_id].gpus)),
                            labels=specs[unit_id].labels)
                    for unit_id, report in self._units.items()
                    if report.state == ObservedState.running and specs[unit_id].gpus]

    def usage(self, holding: Holding) -> Usage | None:
        """Fake units use ``cpu_seconds`` per second of life (``busy``), and no memory."""
        with self._changed:
            report = self._units.get(holding.unit_id)
            if report is None or report.started_at is None:
                return None
            return Usage(cpu_seconds=self.busy.get(holding.unit_id, 0.0)
                         * (time.time() - report.started_at), memory_mib=0.0)

    def emit(self, unit_id: str, *texts: str) -> None:
        """The unit writes ``texts``, one line each."""
        with self._changed:
            self._logs[unit_id].extend(timestamped(text) for text in texts)
            self._changed.notify_all()

    def finish(self, unit_id: str, exit_code: int) -> None:
        """The unit ends by itself with ``exit_code``."""
        with self._changed:
            report = self._units[unit_id]
            report.state = ObservedState.exited
            report.exit_code = exit_code
            report.finished_at = time.time()
            self._changed.notify_all()

    def _running(self, unit_id: str) -> bool:
        report = self._units.get(unit_id)
        return report is not None and report.state is not ObservedState.exited


class NeverStartsRuntime(FakeRuntime):
    """Every start fails, as when the image is missing or the GPUs cannot be attached."""

    def start(self, spec: UnitSpec) -> UnitReport:
        raise RuntimeStartError(f"unit {spec.name} could not start: the fake never starts")


class CrashingRuntime(FakeRuntime):
    """Units start, then exit with code 1 right away."""

    def start(self, spec: UnitSpec) -> UnitReport:
        report = super().start(spec)
        if report.state is ObservedState.running:
            self.finish(spec.unit_id, 1)
        return report
