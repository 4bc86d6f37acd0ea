"""Pytest plugin: session fixtures for the real services the integration tests use.

Registered from ``tests/conftest.py`` with ``pytest_plugins = ["service_fixtures"]``.

Fixtures (all session-scoped):

``redis_url``       ``DLLAB_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``); the
                    database it selects is flushed once at session start.
``postgres_url``    ``DLLAB_TEST_POSTGRES_URL`` (default
                    ``postgresql+psycopg://postgres@127.0.0.1:5432/dllab_test``), a
                    SQLAlchemy URL; the ``public`` schema is dropped and recreated once at
                    session start.
``docker_client``   ``docker.from_env()`` after a ping, once ``DLLAB_TEST_IMAGE`` (default
                    ``dllab/base:bookworm``) is known to exist locally.
``docker_image``    the name of that image.
``chromium_path``   ``DLLAB_TEST_CHROMIUM`` or the Chromium found on ``PATH``.

A service that does not answer skips the tests that use it, unless its name (``redis``,
``postgres``, ``docker``, ``browser``) is listed in the comma-separated
``DLLAB_TEST_REQUIRE``: then those tests fail. CI requires all of them (``.ci/run``), so
an integration test can never silently skip there. Start everything locally with
``sudo .ci/services.sh`` and build the image with ``sudo make images``.
"""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import warnings
from collections.abc import Iterator, Mapping
from typing import Any, NoReturn

import pytest

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/dllab_test"
DEFAULT_IMAGE = "dllab/base:bookworm"
CONNECT_TIMEOUT_S = 3

START_HINT = {
    "redis": "start it with `sudo .ci/services.sh` (or `redis-server --daemonize yes`), "
    "or point DLLAB_TEST_REDIS_URL at a Redis server",
    "postgres": "start it with `sudo .ci/services.sh`, "
    "or point DLLAB_TEST_POSTGRES_URL at a PostgreSQL database (trust auth)",
    "docker": "start the engine with `sudo .ci/services.sh` "
    "(or `dockerd >/var/log/dockerd.log 2>&1 &`)",
    "browser": "install it with `sudo .ci/services.sh` (apt-get install chromium), "
    "or set DLLAB_TEST_CHROMIUM to a Chromium binary",
}


def required_services(env: Mapping[str, str] | None = None) -> set[str]:
    """The service names listed in ``DLLAB_TEST_REQUIRE`` (comma-separated)."""
    env = os.environ if env is None else env
    raw = env.get("DLLAB_TEST_REQUIRE", "")
    return {part.strip().lower() for part in raw.split(",") if part.strip()}


def service_unavailable(
    service: str,
    where: str,
    reason: str,
    hint: str | None = None,
    env: Mapping[str, str] | None = None,
) -> NoReturn:
    """Fail when ``service`` is required (``DLLAB_TEST_REQUIRE``), skip otherwise.

    The one place that decides between fail and skip for every service fixture.
    """
    hint = START_HINT.get(service, "") if hint is None else hint
    required = required_services(env)
    if service in required or "all" in required:
        pytest.fail(
            f"{service} not reachable at {where}: {reason}. It is required "
            f"(DLLAB_TEST_REQUIRE={','.join(sorted(required))}): {hint}",
            pytrace=False,
        )
    pytest.skip(f"{service} not reachable at {where} ({reason}); {hint}")


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def _error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("DLLAB_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    try:
        import redis
    except ImportError as exc:
        service_unavailable("redis", url, f"python package missing ({exc})")
    client = redis.Redis.from_url(
        url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=CONNECT_TIMEOUT_S
    )
    try:
        client.ping()
        client.flushdb()
    except redis.RedisError as exc:
        service_unavailable("redis", url, _error(exc))
    finally:
        client.close()
    return url


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("DLLAB_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    shown = _redact(url)
    try:
        import sqlalchemy as sa
    except ImportError as exc:
        service_unavailable("postgres", shown, f"python package missing ({exc})")
    engine = sa.create_engine(
        url, connect_args={"connect_timeout": CONNECT_TIMEOUT_S}, poolclass=sa.pool.NullPool
    )
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except Exception as exc:  # driver errors differ (psycopg, psycopg2, ...)
        engine.dispose()
        service_unavailable("postgres", shown, _error(exc))
    try:
        # A clean slate per session: tables, types and alembic_version all live in public.
        with engine.begin() as conn:
            conn.execute(sa.text("drop schema if exists public cascade"))
            conn.execute(sa.text("create schema public"))
            conn.execute(sa.text("grant all on schema public to public"))
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="session")
def docker_image() -> str:
    return os.environ.get("DLLAB_TEST_IMAGE", DEFAULT_IMAGE)


def _docker_connect(docker: Any) -> tuple[Any, str]:
    """(client, "") after a successful ping, else (None, error).

    When the engine does not answer, the SDK drops the socket of its failed version probe
    without closing it; with warnings as errors that ResourceWarning would surface later
    in some unrelated test, so it is collected here, ignored.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        client = None
        try:
            client = docker.from_env(timeout=30)
            client.ping()
            return client, ""
        except docker.errors.DockerException as exc:
            error = _error(exc)
        if client is not None:
            client.close()
        gc.collect()
    return None, error


@pytest.fixture(scope="session")
def docker_client(docker_image: str) -> Iterator[Any]:
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        import docker
        import docker.errors
    except ImportError as exc:
        service_unavailable("docker", where, f"python package missing ({exc})")
    client, error = _docker_connect(docker)
    if client is None:
        service_unavailable("docker", where, error)
    try:
        try:
            client.images.get(docker_image)
        except docker.errors.ImageNotFound:
            service_unavailable(
                "docker",
                where,
                f"image {docker_image} (DLLAB_TEST_IMAGE) does not exist",
                "build it with `sudo make images` (no registry can be pulled from)",
            )
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    configured = os.environ.get("DLLAB_TEST_CHROMIUM")
    candidates = [configured] if configured else ["chromium", "chromium-browser"]
    found = [p for p in (shutil.which(c) for c in candidates) if p]
    where = configured or "PATH (chromium, chromium-browser)"
    if not found:
        service_unavailable("browser", where, "no Chromium executable found")
    path = found[0]
    try:
        subprocess.run([path, "--version"], check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        service_unavailable("browser", path, f"`{path} --version` failed: {_error(exc)}")
    return path
