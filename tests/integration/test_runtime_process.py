"""The process runtime driving real local processes through the whole unit life."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dllab.protocol import LABEL_UNIT, LABEL_WORKLOAD, Mount, ObservedState, UnitSpec
from dllab_agent.runtime.base import RuntimeStartError
from dllab_agent.runtime.process import ProcessRuntime
from dllab_agent.runtime.supervise import group_alive, process_start

STAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (.*)$")


def python_unit(code: str, **fields) -> UnitSpec:
    unit_id = f"test-{uuid.uuid4().hex[:8]}"
    command = [sys.executable, "-u", "-c", textwrap.dedent(code)]
    return UnitSpec(unit_id=unit_id, name=f"dllab-{unit_id}", command=command, **fields)


def texts(lines) -> list[str]:
    matches = [STAMPED.match(line) for line in lines]
    assert all(matches), lines
    return [m.group(1) for m in matches]


@pytest.fixture
def state_dir(tmp_path: Path):
    yield tmp_path / "agent"
    leftover = ProcessRuntime(tmp_path / "agent")
    for report in leftover.list():
        leftover.stop(report.unit_id, timeout=0)


@pytest.fixture
def runtime(state_dir: Path) -> ProcessRuntime:
    return ProcessRuntime(state_dir)


SERVE = """
    import os, time
    print("gpus", os.environ["CUDA_VISIBLE_DEVICES"], "mode", os.environ["MODE"])
    while True:
        time.sleep(0.1)
"""


def test_a_unit_runs_logs_and_is_found_again_after_an_agent_restart(runtime, state_dir, wait_until):
    spec = python_unit(
        SERVE, gpus=[2, 3], env={"MODE": "train"}, ports=[8888], labels={LABEL_WORKLOAD: "job-1"}
    )

    started = runtime.start(spec)

    assert started.state is ObservedState.running
    assert started.ports == {8888: 8888}
    wait_until(lambda: list(runtime.logs(spec.unit_id)), what="first log line")
    assert texts(runtime.logs(spec.unit_id)) == ["gpus 2,3 mode train"]

    again = runtime.start(spec)
    assert again.runtime_id == started.runtime_id
    assert [r.unit_id for r in runtime.list()] == [spec.unit_id]

    restarted = ProcessRuntime(state_dir)
    (found,) = restarted.list()
    assert (found.unit_id, found.state, found.runtime_id) == (
        spec.unit_id,
        ObservedState.running,
        started.runtime_id,
    )
    assert restarted.inspect(spec.unit_id).state is ObservedState.running
    stored = (state_dir / "units" / spec.unit_id / "spec.json").read_text()
    assert LABEL_UNIT in stored and "job-1" in stored


def test_a_unit_outlives_the_agent_that_started_it(runtime, state_dir, wait_until):
    spec = python_unit(SERVE, env={"MODE": "orphan"})
    agent = f"""
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from dllab.protocol import UnitSpec
from dllab_agent.runtime.process import ProcessRuntime
ProcessRuntime(Path({str(state_dir)!r})).start(UnitSpec.model_validate_json({spec.model_dump_json()!r}))
"""
    subprocess.run([sys.executable, "-c", agent], check=True, timeout=60)

    assert runtime.inspect(spec.unit_id).state is ObservedState.running
    wait_until(lambda: list(runtime.logs(spec.unit_id)), what="first log line")
    runtime.stop(spec.unit_id)
    assert runtime.list() == []


def test_concurrent_starts_of_one_unit_start_it_once(runtime):
    spec = python_unit(SERVE, env={"MODE": "x"})

    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(runtime.start, [spec] * 4))

    assert len({r.runtime_id for r in reports if r.runtime_id}) == 1
    assert [r.unit_id for r in runtime.list()] == [spec.unit_id]


def test_stop_removes_the_unit_and_its_processes_but_keeps_its_log(runtime, wait_until):
    spec = python_unit(SERVE, env={"MODE": "x"})
    pgid = int(runtime.start(spec).runtime_id)
    wait_until(lambda: list(runtime.logs(spec.unit_id)), what="first log line")

    runtime.stop(spec.unit_id)

    assert runtime.inspect(spec.unit_id).state is ObservedState.missing
    assert runtime.list() == []
    assert not group_alive(pgid)
    assert texts(runtime.logs(spec.unit_id)) == ["gpus  mode x"]
    assert texts(runtime.logs(spec.unit_id, follow=True)) == ["gpus  mode x"]


def test_sigterm_reaches_the_command_once(runtime, wait_until):
    spec = python_unit("""
        import signal, sys, time
        def on_term(signum, frame):
            print("terminating")
            sys.exit(0)
        signal.signal(signal.SIGTERM, on_term)
        print("ready")
        while True:
            time.sleep(0.1)
    """)
    runtime.start(spec)
    wait_until(lambda: list(runtime.logs(spec.unit_id)), what="ready")

    runtime.stop(spec.unit_id, timeout=10)

    assert texts(runtime.logs(spec.unit_id)) == ["ready", "terminating"]


def test_a_unit_that_ignores_sigterm_is_killed_after_the_timeout(runtime, wait_until):
    spec = python_unit("""
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("stubborn")
        while True:
            time.sleep(0.1)
    """)
    pgid = int(runtime.start(spec).runtime_id)
    wait_until(lambda: list(runtime.logs(spec.unit_id)), what="started")

    began = time.monotonic()
    runtime.stop(spec.unit_id, timeout=0.5)

    assert time.monotonic() - began >= 0.5
    assert not group_alive(pgid)
    assert runtime.list() == []


def test_the_exit_code_of_a_unit_that_ends_by_itself(runtime, wait_until):
    spec = python_unit("""
        import sys, time
        for i in range(3):
            print("step", i)
            time.sleep(0.1)
        sys.exit(3)
    """)
    runtime.start(spec)

    followed = texts(runtime.logs(spec.unit_id, follow=True))

    assert followed == ["step 0", "step 1", "step 2"]
    ended = runtime.inspect(spec.unit_id)
    assert (ended.state, ended.exit_code) == (ObservedState.exited, 3)
    assert ended.finished_at >= ended.started_at
    assert texts(runtime.logs(spec.unit_id, tail=1)) == ["step 2"]
    assert [r.state for r in runtime.list()] == [ObservedState.exited]


def test_what_a_command_leaves_behind_ends_with_it(runtime, wait_until):
    spec = python_unit("""
        import subprocess
        print(subprocess.Popen(["sleep", "600"]).pid)
    """)
    runtime.start(spec)
    wait_until(lambda: runtime.inspect(spec.unit_id).state is ObservedState.exited)

    (orphan,) = texts(runtime.logs(spec.unit_id))
    wait_until(lambda: process_start(int(orphan)) is None, what="the orphan is gone")


def test_mounts_and_working_dir(runtime, tmp_path, wait_until):
    data = tmp_path / "data"
    data.mkdir()
    (data / "hello.txt").write_text("hello from the mount")
    (tmp_path / "elsewhere").mkdir()
    spec = python_unit(
        """
        import os
        print(os.getcwd())
        print(open("data/hello.txt").read())
        """,
        mounts=[Mount(source=str(data), target="/data")],
    )
    runtime.start(spec)
    wait_until(lambda: runtime.inspect(spec.unit_id).state is ObservedState.exited)
    cwd, content = texts(runtime.logs(spec.unit_id))
    assert cwd.endswith(f"/units/{spec.unit_id}/work")
    assert content == "hello from the mount"

    elsewhere = python_unit(
        "import os; print(os.getcwd())", working_dir=str(tmp_path / "elsewhere")
    )
    runtime.start(elsewhere)
    wait_until(lambda: runtime.inspect(elsewhere.unit_id).state is ObservedState.exited)
    assert texts(runtime.logs(elsewhere.unit_id)) == [str(tmp_path / "elsewhere")]


def test_a_command_that_cannot_run_is_a_start_error_and_leaves_nothing(runtime, state_dir):
    spec = UnitSpec(unit_id="test-nothing", name="dllab-test-nothing", command=["no-such-cmd"])

    with pytest.raises(RuntimeStartError, match="no-such-cmd"):
        runtime.start(spec)

    assert runtime.list() == []
    assert runtime.inspect(spec.unit_id).state is ObservedState.missing
    assert list((state_dir / "units").iterdir()) == []


def test_stop_of_a_missing_unit_is_fine(runtime):
    runtime.stop("test-never-was")
    assert list(runtime.logs("test-never-was")) == []
