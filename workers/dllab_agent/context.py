"""What the Celery tasks and the heartbeat share while an agent runs.

Built when the agent starts, never at import: tests build one around a fake runtime and a
recording client, and several agents can run in one process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Iterable
from pathlib import Path

from dllab.protocol import ObservedState, UnitReport
from dllab_agent.client import ControlPlaneClient, ControlPlaneError
from dllab_agent.logship import LogShipping
from dllab_agent.runtime.base import Runtime

log = logging.getLogger("dllab_agent")


def describe(report: UnitReport) -> str:
    words = [report.state.value]
    if report.exit_code is not None:
        words.append(f"exit code {report.exit_code}")
    if report.error:
        words.append(f"error: {report.error}")
    return ", ".join(words)


class AgentContext:
    def __init__(
        self,
        runtime: Runtime,
        client: ControlPlaneClient,
        *,
        logs: LogShipping | None = None,
        stop_timeout: float = 10.0,
        volume_roots: tuple[Path, ...] = (),
        workspace_root: Path = Path("workspaces"),
    ) -> None:
        self.runtime = runtime
        self.client = client
        self.logs = logs
        self.stop_timeout = stop_timeout
        self.volume_roots = volume_roots  # host paths units may mount, and what is below
        self.workspace_root = workspace_root  # where workspaces are made (volumes.py)
        self._states: dict[str, ObservedState] = {}
        self._seen_at: dict[str, float] = {}
        self._unsent: dict[str, UnitReport] = {}
        self._unit_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def unit_lock(self, unit_id: str) -> threading.Lock:
        """Held while a command acts on one unit: a command delivered twice at once (the
        worker runs several threads) must not check the world before the other acted."""
        with self._lock:
            return self._unit_locks.setdefault(unit_id, threading.Lock())

    def report(self, report: UnitReport) -> None:
        """Tell the control plane now; if it is away, the next heartbeat tries again."""
        self.observe([report])
        try:
            self.client.report(report)
        except ControlPlaneError as exc:
            log.warning("report of unit %s not sent (%s); retrying later", report.unit_id, exc)
            with self._lock:
                self._unsent[report.unit_id] = report
        else:
            with self._lock:
                self._unsent.pop(report.unit_id, None)

    def resend_unsent(self, skip: Collection[str] = ()) -> None:
        """Send reports that failed: a start failure or a stop is known from nothing else.

        Units in ``skip`` were just sent in a heartbeat, which is newer: theirs are dropped.
        """
        with self._lock:
            for unit_id in skip:
                self._unsent.pop(unit_id, None)
            unsent = list(self._unsent.values())
        for report in unsent:
            self.report(report)

    def observe(self, reports: Iterable[UnitReport], *,
                listed_at: float | None = None) -> None:
        """Log each unit's state change and ship its log.

        ``listed_at``: ``reports`` is every unit the runtime held at that moment
        (``time.monotonic()`` taken before listing), so a unit seen earlier and left out
        is gone: the control plane is told (a unit that vanished is lost). Units first seen
        after that moment, by a command acting meanwhile, are not judged by that list.
        """
        reports = list(reports)
        now = time.monotonic()
        with self._lock:
            changes = []
            for report in reports:
                self._seen_at[report.unit_id] = now
                if self._states.get(report.unit_id) != report.state:
                    changes.append((self._states.get(report.unit_id), report))
                    self._states[report.unit_id] = report.state
            if listed_at is not None:
                listed = {report.unit_id for report in reports}
                for unit_id, state in list(self._states.items()):
                    if (unit_id not in listed and state is not ObservedState.missing
                            and self._seen_at[unit_id] < listed_at):
                        gone = UnitReport(unit_id=unit_id, state=ObservedState.missing)
                        changes.append((state, gone))
                        self._states[unit_id] = ObservedState.missing
                        self._unsent[unit_id] = gone  # sent by resend_unsent
        for before, report in changes:
            if before is None:
                log.info("unit %s: %s", report.unit_id, describe(report))
            else:
                log.info("unit %s: %s -> %s", report.unit_id, before.value, describe(report))
        if self.logs is not None:
            for report in reports:
                if report.state is not ObservedState.missing:
                    self.logs.watch(report.unit_id)
