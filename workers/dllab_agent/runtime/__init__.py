"""Runtime drivers: the contract in ``base``, the docker and process drivers beside it."""

from __future__ import annotations

import gc
import warnings
from pathlib import Path

# Names from the SDK only: the submodule ``docker`` below takes the package attribute.
from docker import DockerClient
from docker.errors import DockerException

from dllab.protocol import RuntimeKind
from dllab_agent.runtime.base import Runtime, RuntimeStartError
from dllab_agent.runtime.docker import DockerRuntime
from dllab_agent.runtime.process import ProcessRuntime

__all__ = ["Runtime", "RuntimeStartError", "docker_available", "make_runtime"]


def make_runtime(kind: RuntimeKind, state_dir: Path) -> Runtime:
    """The driver of ``kind``, keeping what it must remember under ``state_dir``."""
    if kind is RuntimeKind.docker:
        return DockerRuntime(state_dir)
    return ProcessRuntime(state_dir)


def docker_available(timeout: float = 3.0) -> bool:
    """Whether a Docker engine answers here (``DOCKER_HOST`` or the local socket)."""
    # When no engine answers, the SDK drops the socket of its failed version probe
    # unclosed: collect it here, where its ResourceWarning is known and harmless.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            client = DockerClient.from_env(timeout=timeout)
        except DockerException:
            client = None
        if client is None:  # out of the except clause, whose traceback holds the socket
            gc.collect()
            return False
    try:
        return bool(client.ping())
    except DockerException:
        return False
    finally:
        client.close()
