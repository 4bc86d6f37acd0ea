"""The docker runtime driving real containers through the whole unit life."""

from __future__ import annotations

import gc
import re
import textwrap
import urllib.request
import uuid

import pytest

from dllab.protocol import LABEL_UNIT, LABEL_WORKLOAD, ObservedState, UnitSpec
from dllab_agent.runtime import docker_available
from dllab_agent.runtime.base import RuntimeStartError
from dllab_agent.runtime.docker import DockerRuntime
from lab_fixture import containers_labelled

pytestmark = pytest.mark.docker

# RFC 3339 with nanoseconds, trailing zeros trimmed, as the engine writes it.
STAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z (.*)$")


@pytest.fixture
def python_unit(docker_image):
    def make(code: str, **fields) -> UnitSpec:
        unit_id = f"test-{uuid.uuid4().hex[:8]}"
        command = ["python3", "-u", "-c", textwrap.dedent(code)]
        return UnitSpec(
            unit_id=unit_id, name=f"dllab-{unit_id}", image=docker_image, command=command, **fields
        )

    return make


def texts(lines) -> list[str]:
    matches = [STAMPED.match(line) for line in lines]
    assert all(matches), lines
    return [m.group(2) for m in matches]


def containers_of(client, unit_id: str) -> list:
    return containers_labelled(client, f"{LABEL_UNIT}={unit_id}")


SERVE = """
    import http.server, os
    print("gpus", os.environ["NVIDIA_VISIBLE_DEVICES"], "mode", os.environ["MODE"])
    http.server.HTTPServer(("", 8000), http.server.SimpleHTTPRequestHandler).serve_forever()
"""


def test_a_unit_runs_is_reached_and_is_found_again_after_an_agent_restart(
    docker_runtime, docker_client, python_unit, tmp_path, wait_until
):
    spec = python_unit(
        SERVE,
        gpus=[2, 3],
        gpus_simulated=True,
        env={"MODE": "serve"},
        ports=[8000],
        labels={LABEL_WORKLOAD: "service-1"},
    )

    started = docker_runtime.start(spec)

    assert started.state is ObservedState.running
    host_port = started.ports[8000]
    wait_until(lambda: list(docker_runtime.logs(spec.unit_id)), what="first log line")
    assert texts(docker_runtime.logs(spec.unit_id)) == ["gpus 2,3 mode serve"]
    wait_until(lambda: _answers(host_port), what=f"an answer on port {host_port}")

    again = docker_runtime.start(spec)
    assert again.runtime_id == started.runtime_id
    assert [r.unit_id for r in docker_runtime.list()] == [spec.unit_id]
    assert len(containers_of(docker_client, spec.unit_id)) == 1

    restarted = DockerRuntime(tmp_path / "agent", client=docker_client)
    (found,) = restarted.list()
    assert (found.unit_id, found.state, found.runtime_id, found.ports) == (
        spec.unit_id,
        ObservedState.running,
        started.runtime_id,
        {8000: host_port},
    )
    assert restarted.inspect(spec.unit_id).state is ObservedState.running
    (container,) = containers_of(docker_client, spec.unit_id)
    assert container.labels[LABEL_WORKLOAD] == "service-1"

    # Another agent on the same engine (its own state dir) neither sees nor touches it.
    other = DockerRuntime(tmp_path / "other-agent", client=docker_client)
    assert other.list() == []
    assert other.inspect(spec.unit_id).state is ObservedState.missing
    other.stop(spec.unit_id, timeout=1)
    assert restarted.inspect(spec.unit_id).state is ObservedState.running


def test_stop_removes_the_container_but_keeps_its_log(
    docker_runtime, docker_client, python_unit, wait_until
):
    spec = python_unit(SERVE, env={"MODE": "x"})
    docker_runtime.start(spec)
    wait_until(lambda: list(docker_runtime.logs(spec.unit_id)), what="first log line")

    docker_runtime.stop(spec.unit_id, timeout=5)

    assert docker_runtime.inspect(spec.unit_id).state is ObservedState.missing
    assert docker_runtime.list() == []
    assert containers_of(docker_client, spec.unit_id) == []
    assert texts(docker_runtime.logs(spec.unit_id)) == ["gpus void mode x"]
    assert texts(docker_runtime.logs(spec.unit_id, follow=True, tail=1)) == ["gpus void mode x"]


def test_the_exit_code_of_a_unit_that_ends_by_itself(docker_runtime, python_unit, wait_until):
    spec = python_unit("""
        import sys, time
        for i in range(3):
            print("step", i)
            time.sleep(0.1)
        sys.exit(3)
    """)
    docker_runtime.start(spec)

    assert texts(docker_runtime.logs(spec.unit_id, follow=True)) == ["step 0", "step 1", "step 2"]
    wait_until(lambda: docker_runtime.inspect(spec.unit_id).state is ObservedState.exited)
    ended = docker_runtime.inspect(spec.unit_id)
    assert ended.exit_code == 3
    assert ended.finished_at > ended.started_at
    assert texts(docker_runtime.logs(spec.unit_id, tail=1)) == ["step 2"]


def test_a_follower_may_stop_reading_before_the_unit_ends(docker_runtime, python_unit):
    spec = python_unit("""
        import itertools, time
        for i in itertools.count():
            print(i)
            time.sleep(0.05)
    """)
    docker_runtime.start(spec)

    follower = docker_runtime.logs(spec.unit_id, follow=True)
    assert texts([next(follower), next(follower)]) == ["0", "1"]
    follower.close()
    del follower
    gc.collect()  # an unclosed socket would fail the test here (warnings are errors)


def test_the_engine_is_seen(docker_client):
    assert docker_available() is True


def test_stop_of_a_missing_unit_is_fine(docker_runtime):
    docker_runtime.stop("test-never-was")
    docker_runtime.stop("test-never-was")
    assert list(docker_runtime.logs("test-never-was")) == []


def test_gpus_that_cannot_be_attached_fail_the_start_and_leave_nothing(
    docker_runtime, docker_client, python_unit
):
    if "nvidia" in docker_client.info().get("Runtimes", {}):
        pytest.skip("this engine has the NVIDIA runtime: the GPU request would succeed")
    spec = python_unit("print('never')", gpus=[0])

    with pytest.raises(RuntimeStartError, match="GPUs \\[0\\] could not be attached"):
        docker_runtime.start(spec)

    assert containers_of(docker_client, spec.unit_id) == []


def test_a_missing_image_fails_the_start(docker_runtime):
    spec = UnitSpec(
        unit_id="test-noimage",
        name="dllab-test-noimage",
        image="dllab/no-such-image:0",
        command=["true"],
    )

    with pytest.raises(RuntimeStartError, match="not on this host"):
        docker_runtime.start(spec)


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False
