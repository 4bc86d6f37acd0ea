"""Commands to agents: Celery messages on the ``host.<name>`` queue of each host.

The control plane only produces messages; agents consume them. Services call this after
their transaction has committed, so an agent never acts on a row that may roll back.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from kombu.exceptions import KombuError

from dllab import protocol
from dllab.errors import Unavailable

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(self, broker_url: str):
        self._broker_url = broker_url
        self._celery = Celery("dllab-control-plane")
        self._celery.conf.update(protocol.celery_config(broker_url))
        # Fail fast when the broker is down instead of retrying while an API call waits.
        self._celery.conf.broker_connection_timeout = 3
        self._celery.conf.task_publish_retry_policy = {"max_retries": 2, "interval_start": 0.2}

    def send(self, host_name: str, task: str, *args: Any) -> None:
        try:
            self._celery.send_task(task, args=list(args), queue=protocol.host_queue(host_name))
        except (KombuError, OSError) as exc:
            raise Unavailable(
                "the command broker is unreachable; try again shortly",
                reason="broker_unavailable",
                log=f"sending {task} to {host_name} via {self._broker_url}: {exc!r}",
            ) from exc

    def start_unit(self, host_name: str, spec: protocol.UnitSpec) -> None:
        self.send(host_name, protocol.TASK_START_UNIT, spec.model_dump(mode="json"))

    def stop_unit(self, host_name: str, unit_id: str) -> None:
        self.send(host_name, protocol.TASK_STOP_UNIT, unit_id)

    def remove_workspace(self, host_name: str, workspace_id: str) -> None:
        self.send(host_name, protocol.TASK_REMOVE_WORKSPACE, workspace_id)

    def close(self) -> None:
        self._celery.close()
