from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from dllab.config import Settings
from dllab.dispatch import Dispatcher
from dllab.monitoring.book import GpuBook
from dllab.services.hub import Hub
from dllab.services.logs import LogStore
from dllab.services.rollout import Book


@dataclass
class AppContext:
    """The long-lived parts one control-plane process holds, built by ``create_app``."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    dispatcher: Dispatcher
    logs: LogStore
    hub: Hub
    serving: Book = field(default_factory=Book)  # prediction services' traffic
    gpus: GpuBook = field(default_factory=GpuBook)  # every host's latest GPU readings
