from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from dllab.config import Settings
from dllab.dispatch import Dispatcher
from dllab.services.hub import Hub
from dllab.services.logs import LogStore


@dataclass
class AppContext:
    """The long-lived parts one control-plane process holds, built by ``create_app``."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    dispatcher: Dispatcher
    logs: LogStore
    hub: Hub
