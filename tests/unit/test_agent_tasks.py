"""The agent's commands, called directly with a fake runtime and a recording client."""

from __future__ import annotations

import logging
import os
import time

import pytest

from dllab.protocol import WORKSPACE_UID, ObservedState, UnitReport
from dllab_agent.client import ControlPlaneUnreachable
from dllab_agent.context import AgentContext
from dllab_agent.tasks import remove_workspace_task, start_unit, stop_unit
from dllab_agent.volumes import remove_workspace
from fakes import CrashingRuntime, FakeRuntime, NeverStartsRuntime


class RecordingClient:
    """Stands in for ``ControlPlaneClient``: records reports; ``down`` makes them fail."""

    def __init__(self) -> None:
        self.reports: list[UnitReport] = []
        self.down = False

    def report(self, report: UnitReport) -> None:
        if self.down:
            raise ControlPlaneUnreachable("control plane at http://cp.test unreachable")
        self.reports.append(report)


def spec(unit_id: str = "u-1", **fields) -> dict:
    return {
        "unit_id": unit_id,
        "name": f"job-7-worker-{unit_id}",
        "command": ["python", "-c", "print(1)"],
        "gpus": [0, 1],
        "ports": [6006],
        **fields,
    }


@pytest.fixture
def client() -> RecordingClient:
    return RecordingClient()


def test_start_runs_the_unit_and_reports_it(client):
    runtime = FakeRuntime()
    report = start_unit(AgentContext(runtime, client), spec())

    assert report.state is ObservedState.running and report.ports == {6006: 40000}
    assert [s.unit_id for s in runtime.started] == ["u-1"]
    assert client.reports == [report]


def test_a_start_delivered_twice_starts_one_unit(client):
    runtime = FakeRuntime()
    ctx = AgentContext(runtime, client)
    first = start_unit(ctx, spec())
    second = start_unit(ctx, spec())

    assert len(runtime.started) == 1
    assert second.runtime_id == first.runtime_id
    assert [r.state for r in client.reports] == [ObservedState.running, ObservedState.running]


def test_a_start_of_a_unit_that_already_ended_does_not_rerun_it(client):
    runtime = CrashingRuntime()
    ctx = AgentContext(runtime, client)
    start_unit(ctx, spec())
    again = start_unit(ctx, spec())

    assert len(runtime.started) == 1
    assert (again.state, again.exit_code) == (ObservedState.exited, 1)


def test_a_start_failure_is_reported_with_its_reason(client):
    report = start_unit(AgentContext(NeverStartsRuntime(), client), spec())

    assert report.state is ObservedState.exited
    assert report.exit_code is None
    assert "the fake never starts" in report.error
    assert client.reports == [report]


def test_an_invalid_spec_is_reported_against_its_unit(client):
    runtime = FakeRuntime()
    report = start_unit(AgentContext(runtime, client), spec(gpus="all"))

    assert runtime.started == []
    assert report.state is ObservedState.exited and "invalid unit spec" in report.error
    assert client.reports == [report]


def test_a_spec_without_a_unit_id_is_refused_without_a_report(client):
    assert start_unit(AgentContext(FakeRuntime(), client), {"name": "x"}) is None
    assert client.reports == []


def test_stop_removes_the_unit_and_reports_it_missing(client):
    runtime = FakeRuntime()
    ctx = AgentContext(runtime, client)
    start_unit(ctx, spec())
    report = stop_unit(ctx, "u-1")

    assert runtime.stopped == ["u-1"]
    assert runtime.inspect("u-1").state is ObservedState.missing
    assert report == UnitReport(unit_id="u-1", state=ObservedState.missing)
    assert client.reports[-1] == report


def test_stopping_a_missing_unit_is_a_success(client):
    runtime = FakeRuntime()
    report = stop_unit(AgentContext(runtime, client), "never-started")

    assert runtime.stopped == []
    assert client.reports == [report] and report.state is ObservedState.missing


def test_reports_the_control_plane_missed_are_sent_again(client):
    ctx = AgentContext(NeverStartsRuntime(), client)
    client.down = True
    start_unit(ctx, spec("u-1"))
    start_unit(ctx, spec("u-2"))
    client.down = False

    ctx.resend_unsent(skip={"u-2"})  # u-2 was in a newer heartbeat
    ctx.resend_unsent()

    assert [(r.unit_id, r.state) for r in client.reports] == [("u-1", ObservedState.exited)]


def test_each_state_change_is_logged_once(client, caplog):
    caplog.set_level(logging.INFO, logger="dllab_agent")
    runtime = FakeRuntime()
    ctx = AgentContext(runtime, client)
    start_unit(ctx, spec())
    ctx.observe(runtime.list(), listed_at=time.monotonic())
    runtime.finish("u-1", 3)
    ctx.observe(runtime.list(), listed_at=time.monotonic())
    runtime.stop("u-1")
    ctx.observe(runtime.list(), listed_at=time.monotonic())

    changes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("unit u-1:")]
    assert changes == [
        "unit u-1: running",
        "unit u-1: running -> exited, exit code 3",
        "unit u-1: exited -> missing",
    ]


def test_a_unit_that_vanishes_is_reported_missing(client):
    runtime = FakeRuntime()
    ctx = AgentContext(runtime, client)
    start_unit(ctx, spec())
    runtime.stop("u-1")  # removed behind the agent's back (docker rm, a reboot)
    ctx.observe(runtime.list(), listed_at=time.monotonic())
    ctx.resend_unsent()
    assert [(r.unit_id, r.state) for r in client.reports][-1] == ("u-1", ObservedState.missing)


def test_a_list_taken_before_a_start_does_not_call_the_new_unit_gone(client):
    runtime = FakeRuntime()
    ctx = AgentContext(runtime, client)
    listed_at = time.monotonic()
    listed = runtime.list()  # the heartbeat lists ...
    start_unit(ctx, spec())  # ... while a start command acts
    ctx.observe(listed, listed_at=listed_at)
    ctx.resend_unsent()
    assert ObservedState.missing not in [r.state for r in client.reports]


def test_a_mount_outside_the_volume_roots_is_refused_and_nothing_starts(client, tmp_path):
    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    (data / "team").mkdir(parents=True)
    elsewhere.mkdir()
    (data / "escape").symlink_to(elsewhere)
    runtime = FakeRuntime()
    ctx = AgentContext(runtime, client, volume_roots=(data,))
    for n, source in enumerate([str(elsewhere), f"{data}/team/../../elsewhere",
                                f"{data}/escape", "/var/run/docker.sock"]):
        report = start_unit(ctx, spec(f"u-{n}", mounts=[{"source": source,
                                                         "target": "/mnt/data"}]))
        assert report.state is ObservedState.exited
        assert "outside this host's volume roots" in report.error
    assert runtime.started == []
    allowed = start_unit(ctx, spec("ok", mounts=[
        {"source": f"{data}/team", "target": "/mnt/team", "read_only": True},
        {"source": "scratch", "target": "/scratch"}]))  # an engine-managed volume
    assert allowed.state is ObservedState.running


def test_without_volume_roots_no_host_path_is_mounted(client):
    runtime = FakeRuntime()
    report = start_unit(AgentContext(runtime, client), spec(mounts=[
        {"source": "/home", "target": "/mnt/home"}]))
    assert report.state is ObservedState.exited
    assert "start the agent with --volume-root" in report.error
    assert runtime.started == []


def test_a_workspace_is_made_under_the_root_owned_by_dev_and_mounted(client, tmp_path):
    runtime, root = FakeRuntime(), tmp_path / "workspaces"
    ctx = AgentContext(runtime, client, workspace_root=root)
    workspace = "ab" * 16
    report = start_unit(ctx, spec(workspace={"id": workspace, "target": "/home/dev/work"}))
    assert report.state is ObservedState.running
    folder = root / workspace
    assert folder.is_dir()
    if os.geteuid() == 0:  # an agent that may give it away gives it to the image's dev
        assert (folder.stat().st_uid, folder.stat().st_gid) == (WORKSPACE_UID, WORKSPACE_UID)
    [started] = runtime.started
    assert started.workspace is None
    assert [(m.source, m.target) for m in started.mounts] == [(str(folder), "/home/dev/work")]


def test_remove_workspace_removes_its_folder_and_nothing_outside(client, tmp_path):
    root = tmp_path / "workspaces"
    ctx = AgentContext(FakeRuntime(), client, workspace_root=root)
    workspace = "cd" * 16
    (root / workspace / "sub").mkdir(parents=True)
    (root / workspace / "sub" / "file").write_text("x")
    remove_workspace_task(ctx, workspace)
    assert not (root / workspace).exists()
    remove_workspace_task(ctx, workspace)  # a second delivery is harmless
    with pytest.raises(ValueError):
        remove_workspace(root, "../../etc")
    assert root.exists()


def test_a_unit_that_needs_another_runtime_is_refused(client):
    runtime = FakeRuntime()  # a process host
    report = start_unit(AgentContext(runtime, client), spec(runtime="docker"))
    assert report.state is ObservedState.exited
    assert report.error == "unit needs the docker runtime; this host runs process"
    assert runtime.started == []
    assert start_unit(AgentContext(runtime, client),
                      spec("u-2", runtime="process")).state is ObservedState.running
