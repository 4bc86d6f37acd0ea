"""Fixtures of the integration tests, beside the service fixtures of ``tests/conftest.py``.

``wait_until``      ``wait_until(predicate, timeout=10)``: polls until it is true, else fails
``docker_runtime``  a ``DockerRuntime`` on ``docker_client`` (which skips, or fails when
                    ``DLLAB_TEST_REQUIRE`` lists docker, if no engine answers), with its
                    state in a temporary directory. Containers named ``dllab-test-*`` are
                    removed before and after each test.

When a test that uses Docker fails, its report gains a section with the log and the
``State`` of every ``dllab-test-*`` container.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from dllab_agent.runtime.docker import DockerRuntime

TEST_PREFIX = "dllab-test-"


@pytest.fixture
def wait_until() -> Callable[..., None]:
    def wait(predicate: Callable[[], object], timeout: float = 30.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                pytest.fail(f"not true after {timeout} s: {what or predicate}")
            time.sleep(0.05)

    return wait


@pytest.fixture
def docker_runtime(docker_client: docker.DockerClient, tmp_path: Path) -> Iterator[DockerRuntime]:
    _remove_test_containers(docker_client)
    yield DockerRuntime(tmp_path / "agent", client=docker_client)
    _remove_test_containers(docker_client)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport:
    report = yield
    client = getattr(item, "funcargs", {}).get("docker_client")
    if report.when == "call" and report.failed and client is not None:
        report.sections.append((f"{TEST_PREFIX}* containers", _describe(client)))
    return report


def _test_containers(client: docker.DockerClient) -> list:
    found = client.containers.list(all=True, filters={"name": TEST_PREFIX}, ignore_removed=True)
    return [c for c in found if c.name.startswith(TEST_PREFIX)]


def _remove_test_containers(client: docker.DockerClient) -> None:
    for container in _test_containers(client):
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


def _describe(client: docker.DockerClient) -> str:
    parts = []
    for container in _test_containers(client):
        state = json.dumps(container.attrs["State"], indent=2)
        try:
            log = container.logs(timestamps=True).decode("utf-8", "replace")
        except docker.errors.NotFound:
            log = "(removed while being described)"
        parts.append(f"--- {container.name} ({container.short_id})\n{state}\n{log}")
    return "\n".join(parts) or "(none)"
