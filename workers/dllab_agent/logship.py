"""Shipping each unit's log to the control plane, resumable by line offset.

One thread per unit: it asks the control plane where to resume (an empty batch answers
``next_offset``), follows the runtime's log from there, and ships a batch every
``batch_seconds`` or ``batch_lines`` lines. It ends when the unit has ended and every line
is shipped, or when the agent stops; a restarted agent resumes where the server stopped,
so nothing is lost or sent twice.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable

from dllab.protocol import MAX_LOG_LINE, UnitLogAck, UnitLogLines
from dllab_agent.client import ControlPlaneClient, ControlPlaneError
from dllab_agent.runtime.base import Runtime

log = logging.getLogger(__name__)

_END = object()
_IDLE_POLL = 0.5  # how often a shipper waiting for output checks that the agent still runs


def ship_unit_logs(
    runtime: Runtime,
    client: ControlPlaneClient,
    unit_id: str,
    stop: threading.Event,
    *,
    batch_seconds: float = 0.3,
    batch_lines: int = 500,
) -> None:
    ack = _send(client, unit_id, UnitLogLines(offset=0, lines=[]), stop)
    if ack is None:
        return
    offset = ack.next_offset
    lines: queue.Queue[object] = queue.Queue()
    # The runtime's follow blocks until the next line, so it gets a thread of its own and
    # batches are cut by time here. It cannot be interrupted: it ends with the unit.
    threading.Thread(
        target=_read, args=(runtime, unit_id, offset, lines), name=f"log-{unit_id}", daemon=True
    ).start()
    ended = False
    while not ended and not stop.is_set():
        batch, ended = _collect(lines, stop, batch_lines, batch_seconds)
        if batch:
            if _send(client, unit_id, UnitLogLines(offset=offset, lines=batch), stop) is None:
                return
            offset += len(batch)
    if ended:
        log.debug("log of unit %s shipped up to line %d", unit_id, offset)


def _read(runtime: Runtime, unit_id: str, skip: int, lines: queue.Queue[object]) -> None:
    try:
        for index, line in enumerate(runtime.logs(unit_id, follow=True)):
            if index >= skip:
                lines.put(line[:MAX_LOG_LINE])
    except Exception:
        log.exception("reading the log of unit %s failed", unit_id)
    finally:
        lines.put(_END)


def _collect(
    lines: queue.Queue[object], stop: threading.Event, max_lines: int, max_seconds: float
) -> tuple[list[str], bool]:
    """Up to ``max_lines`` lines, waiting at most ``max_seconds`` after the first one."""
    batch: list[str] = []
    deadline: float | None = None
    while len(batch) < max_lines:
        timeout = _IDLE_POLL if deadline is None else deadline - time.monotonic()
        if timeout <= 0:
            break
        try:
            item = lines.get(timeout=timeout)
        except queue.Empty:
            if deadline is None and stop.is_set():
                break
            continue
        if item is _END:
            return batch, True
        batch.append(str(item))
        if deadline is None:
            deadline = time.monotonic() + max_seconds
    return batch, False


def _send(
    client: ControlPlaneClient, unit_id: str, batch: UnitLogLines, stop: threading.Event
) -> UnitLogAck | None:
    """Ship one batch, retrying while the control plane is away; ``None``: give up."""
    backoff = 0.5
    while True:
        try:
            return client.ship_logs(unit_id, batch)
        except ControlPlaneError as exc:
            if not exc.retryable:
                log.warning("stopped shipping the log of unit %s: %s", unit_id, exc)
                return None
            log.debug("log of unit %s not shipped (%s); retrying in %.1f s", unit_id, exc, backoff)
        if stop.wait(backoff):
            return None
        backoff = min(backoff * 2, 10.0)


class LogShipping:
    """Starts one shipper per unit, once per agent run."""

    def __init__(
        self,
        runtime: Runtime,
        client: ControlPlaneClient,
        stop: threading.Event,
        *,
        batch_seconds: float = 0.3,
        batch_lines: int = 500,
    ) -> None:
        self._runtime = runtime
        self._client = client
        self._stop = stop
        self._batch = {"batch_seconds": batch_seconds, "batch_lines": batch_lines}
        self._watched: set[str] = set()
        self._threads: dict[str, threading.Thread] = {}  # by unit id, while they ship
        self._lock = threading.Lock()

    def watch(self, unit_id: str) -> None:
        with self._lock:
            if unit_id in self._watched or self._stop.is_set():
                return
            self._watched.add(unit_id)
            thread = threading.Thread(
                target=ship_unit_logs,
                args=(self._runtime, self._client, unit_id, self._stop),
                kwargs=self._batch,
                name=f"ship-{unit_id}",
                daemon=True,
            )
            self._threads = {u: t for u, t in self._threads.items() if t.is_alive()}
            self._threads[unit_id] = thread
        thread.start()

    def join(self, timeout: float, unit_ids: Iterable[str] | None = None) -> None:
        """Wait for the shippers (of ``unit_ids`` only, if given) to end: each ends once its
        unit has ended and every line is shipped, or at most a poll after the stop event."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = [t for u, t in self._threads.items() if unit_ids is None or u in unit_ids]
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
