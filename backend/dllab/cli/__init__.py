"""The ``dllab`` command: client commands over the REST API, and the server and agent."""

from dllab.cli.main import main

__all__ = ["main"]
