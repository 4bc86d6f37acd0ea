"""The agent's Celery app: one per agent, bound to its host's queue."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import Celery
from celery.concurrency.thread import TaskPool
from kombu import Exchange, Queue

from dllab import protocol


def make_celery(broker_url: str, queue: str | None = None) -> Celery:
    """A Celery app configured as the control plane expects (``protocol.celery_config``).

    With ``queue`` it is the only queue the app knows, declared durable and shaped as a
    sender's ``apply_async(queue=...)`` declares it, so either side may declare it first.
    """
    app = Celery("dllab_agent", set_as_current=False)
    app.conf.update(protocol.celery_config(broker_url))
    if queue is not None:
        app.conf.task_queues = [
            Queue(queue, Exchange(queue, type="direct"), routing_key=queue, durable=True)
        ]
        app.conf.task_default_queue = queue
    return app


class AppThreadPool(TaskPool):
    """Celery's ``threads`` pool, running tasks with the worker's own app.

    The stock pool finds the app as the pool thread's *current* app, which is Celery's
    process-wide default unless something made ours the default; an agent never does, so
    that several agents (or an agent and a control plane) can share one process.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.executor = ThreadPoolExecutor(max_workers=self.limit, initializer=self.app.set_current)
