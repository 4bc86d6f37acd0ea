"""``Periodic``: the control plane's background work, one thread per kind (scheduler passes,
idle culling), started and stopped with the app."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    """Runs ``work`` every ``seconds`` in a thread of its own; ``seconds`` 0: never."""

    def __init__(self, name: str, seconds: float, work: Callable[[], object]) -> None:
        self._name, self._seconds, self._work = name, seconds, work
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"dllab-{name}", daemon=True)

    def start(self) -> None:
        if self._seconds > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stopped.wait(self._seconds):
            try:
                self._work()
            except Exception:  # one bad round must not end the work; the next may succeed
                log.exception("%s failed", self._name)
