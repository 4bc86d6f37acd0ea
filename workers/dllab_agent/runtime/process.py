"""The process runtime: each unit is a local process group under a small supervisor.

The embedded default, for a laptop or a host without Docker. A unit lives in
``<state_dir>/units/<unit_id>/``:

    spec.json  the spec with its labels: how ``list`` finds units after an agent restart
    work/      the working directory unless the spec names one (a relative one is taken inside)
    log        "<timestamp> <text>" lines, written by the supervisor (see ``supervise``)
    pid        the supervisor: pid (= process group id), kernel start time, started_at
    exit       exit code and finished_at, once the command has ended

A stopped unit leaves its log in ``<state_dir>/logs/<unit_id>.log``.

GPUs are given through CUDA_VISIBLE_DEVICES, so the unit sees them as 0..n-1. Ports cannot
be remapped: a unit is reached on the ports it listens on. Mounts become symlinks in
``work/`` (``/data`` -> ``work/data``); ``read_only`` cannot be enforced.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO

from dllab.protocol import LABEL_UNIT, ObservedState, RuntimeKind, UnitReport, UnitSpec
from dllab_agent.runtime import supervise
from dllab_agent.runtime.base import (
    Holding,
    Runtime,
    RuntimeStartError,
    Usage,
    gpu_label,
    labelled_gpus,
    process_tree_usage,
)

POLL_SECONDS = 0.1
LAUNCH_TIMEOUT = 30.0  # the supervisor answers once the command is spawned: well under this
KILL_WAIT = 5.0  # after SIGKILL, for the unit's processes to be gone
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


# What a unit inherits from the agent's environment: enough to find programs and speak
# the locale. Nothing else: the agent's host token, cloud credentials, SSH agent socket or
# DOCKER_HOST are not the unit's business.
INHERITED = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "TZ", "TMPDIR")


def unit_env(spec: UnitSpec, base_env: Mapping[str, str]) -> dict[str, str]:
    """The environment of a unit's process: what it inherits, the spec's, then its GPUs."""
    env = {key: value for key, value in base_env.items()
           if key in INHERITED or key.startswith("LC_")}
    env.update(spec.env)
    # Set even when empty: a unit given no GPUs must see none, not all of them.
    env["CUDA_VISIBLE_DEVICES"] = ",".join(str(gpu) for gpu in spec.gpus)
    # CUDA numbers GPUs fastest first unless told otherwise; NVML, the scheduler and
    # nvidia-smi number them by PCI bus, and CUDA_VISIBLE_DEVICES must mean the same GPUs.
    env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    return env


class ProcessRuntime(Runtime):
    kind = RuntimeKind.process

    def __init__(self, state_dir: Path) -> None:
        self._units = state_dir / "units"
        self._saved_logs = state_dir / "logs"

    def start(self, spec: UnitSpec) -> UnitReport:
        try:
            unit_dir = self._unit_dir(spec.unit_id)
        except ValueError as exc:
            raise RuntimeStartError(str(exc)) from exc
        if unit_dir.exists():
            return self.inspect(spec.unit_id)
        links = _mount_links(spec)
        self._units.mkdir(parents=True, exist_ok=True)
        # Built aside and renamed into place, so a unit dir is never without its spec.
        staging = Path(tempfile.mkdtemp(prefix=".new-", dir=self._units))
        try:
            _prepare(staging, spec, links)
            staging.rename(unit_dir)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if unit_dir.exists():  # a concurrent start of this unit got there first
                return self.inspect(spec.unit_id)
            raise RuntimeStartError(f"unit {spec.name} could not be prepared: {exc}") from exc
        try:
            _launch(unit_dir, spec)
        except RuntimeStartError:
            _end(unit_dir, timeout=0)
            shutil.rmtree(unit_dir, ignore_errors=True)
            raise
        return self.inspect(spec.unit_id)

    def stop(self, unit_id: str, timeout: float = 10.0) -> None:
        unit_dir = self._unit_dir(unit_id)
        if not unit_dir.is_dir():
            return
        _end(unit_dir, timeout)
        self._saved_logs.mkdir(parents=True, exist_ok=True)
        with suppress(FileNotFoundError):  # never launched, or a concurrent stop moved it
            (unit_dir / "log").replace(self._saved_logs / f"{unit_id}.log")
        shutil.rmtree(unit_dir, ignore_errors=True)

    def inspect(self, unit_id: str) -> UnitReport:
        unit_dir = self._unit_dir(unit_id)
        spec = _read_json(unit_dir / "spec.json")
        if spec is None:
            return UnitReport(unit_id=unit_id, state=ObservedState.missing)
        report = UnitReport(
            unit_id=unit_id,
            state=ObservedState.starting,
            ports={port: port for port in [*spec["ports"], spec.get("host_port") or 0] if port},
        )
        started = _read_json(unit_dir / "pid")
        if started is None:
            return report
        report.runtime_id = str(started["pid"])
        report.started_at = started["started_at"]
        if supervise.process_start(started["pid"]) == started["proc_start"]:
            report.state = ObservedState.running
            return report
        # Read only now: the supervisor writes it just before it ends.
        ended = _read_json(unit_dir / "exit")
        report.state = ObservedState.exited
        report.ports = {}  # as a container's: an ended unit listens on nothing
        if ended is None:
            report.error = "the unit's supervisor ended without recording an exit code"
        else:
            report.exit_code = ended["exit_code"]
            report.finished_at = ended["finished_at"]
        return report

    def logs(self, unit_id: str, follow: bool = False, tail: int | None = None) -> Iterator[str]:
        for path in (self._unit_dir(unit_id) / "log", self._saved_logs / f"{unit_id}.log"):
            try:
                file = path.open("rb")
            except FileNotFoundError:
                continue  # a stop may move the live log to the saved one at any time
            with file:
                yield from _lines(file, tail, (lambda: self._ended(unit_id)) if follow else None)
            return

    def list(self) -> list[UnitReport]:
        if not self._units.is_dir():
            return []
        reports = []
        for unit_dir in sorted(self._units.iterdir()):
            if unit_dir.name.startswith("."):
                continue  # still being prepared
            spec = _read_json(unit_dir / "spec.json")
            if spec is None:
                continue  # being removed
            reports.append(self.inspect(spec["labels"][LABEL_UNIT]))
        return reports

    def holdings(self) -> list[Holding]:
        if not self._units.is_dir():
            return []
        found = []
        for unit_dir in self._units.iterdir():
            spec = None if unit_dir.name.startswith(".") else _read_json(unit_dir / "spec.json")
            started = _read_json(unit_dir / "pid") if spec and spec["gpus"] else None
            if started is None or supervise.process_start(started["pid"]) != \
                    started["proc_start"]:
                continue
            found.append(Holding(unit_id=spec["labels"][LABEL_UNIT],
                                 runtime_id=str(started["pid"]),
                                 gpus=labelled_gpus(spec["labels"]), labels=spec["labels"]))
        return found

    def usage(self, holding: Holding) -> Usage | None:
        return process_tree_usage(int(holding.runtime_id))

    def _unit_dir(self, unit_id: str) -> Path:
        if not _PLAIN_NAME.fullmatch(unit_id):
            raise ValueError(f"unit id {unit_id!r} is not a plain name")
        return self._units / unit_id

    def _ended(self, unit_id: str) -> bool:
        return self.inspect(unit_id).state in (ObservedState.exited, ObservedState.missing)


def _mount_links(spec: UnitSpec) -> dict[Path, str]:
    """Where in ``work/`` each mount appears, and what it points to."""
    links = {}
    for mount in spec.mounts:
        relative = os.path.normpath(mount.target.lstrip("/"))
        if relative in (".", "..") or relative.startswith("../"):
            raise RuntimeStartError(f"mount target {mount.target} names no directory")
        links[Path(relative)] = mount.source
    return links


def _prepare(unit_dir: Path, spec: UnitSpec, links: dict[Path, str]) -> None:
    stored = spec.model_copy(update={"labels": {
        **spec.labels, **gpu_label(spec.gpus), LABEL_UNIT: spec.unit_id}})
    (unit_dir / "spec.json").write_text(stored.model_dump_json())
    # The log exists as soon as the unit does, so a follower that comes before the
    # supervisor has opened it waits for lines instead of finding no log at all.
    (unit_dir / "log").touch()
    work = unit_dir / "work"
    work.mkdir()
    if spec.working_dir and not os.path.isabs(spec.working_dir):
        (work / spec.working_dir).mkdir(parents=True, exist_ok=True)  # as docker would
    for relative, source in links.items():
        (work / relative).parent.mkdir(parents=True, exist_ok=True)
        (work / relative).symlink_to(source)


def _launch(unit_dir: Path, spec: UnitSpec) -> None:
    """Start the supervisor and wait until it has spawned the command, or failed to."""
    cwd = unit_dir / "work" / (spec.working_dir or "")
    if not cwd.is_dir():
        raise RuntimeStartError(f"unit {spec.name}: working directory {cwd} does not exist")
    try:
        answer = subprocess.run(
            # -I: the unit's environment (PYTHONPATH, PYTHONHOME) must not reach the supervisor.
            [sys.executable, "-I", supervise.__file__, str(unit_dir)],
            cwd=cwd,
            env=unit_env(spec, os.environ),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=LAUNCH_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeStartError(f"unit {spec.name} could not start: {exc}") from exc
    if answer.returncode != 0:
        raise RuntimeStartError(f"unit {spec.name} could not start: {answer.stderr.strip()}")


def _end(unit_dir: Path, timeout: float) -> None:
    """SIGTERM the unit, SIGKILL its process group after ``timeout``, wait for it to go."""
    started = _read_json(unit_dir / "pid")
    if started is None:
        return
    pid, identity = started["pid"], started["proc_start"]

    def alive() -> bool:
        return supervise.process_start(pid) == identity

    if alive():
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)  # the supervisor relays it once to the whole group
        _wait(lambda: not alive(), timeout)
    # A group outlives its leader (say, an OOM-killed supervisor); but a pid now held by
    # another process means the unit's group, which would have kept it reserved, is gone.
    if supervise.process_start(pid) in (None, identity):
        with suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        # Until every process of the unit is gone: the GPUs it held may be given out next.
        _wait(lambda: not supervise.group_alive(pid), KILL_WAIT)


def _wait(done: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def _lines(file: BinaryIO, tail: int | None, ended: Callable[[], bool] | None) -> Iterator[str]:
    """The lines of a log file; with ``ended``, then those still coming until it says so."""
    rest = b""
    backlog: Iterable[bytes] = deque(file, maxlen=tail) if tail is not None else file
    for line in backlog:
        if line.endswith(b"\n"):
            yield _text(line)
        else:
            rest = line
    while ended is not None:
        finished = ended()  # asked before reading: what it wrote before ending is read next
        data = file.read()
        if data:
            *whole, rest = (rest + data).split(b"\n")
            yield from (_text(line) for line in whole)
        elif finished:
            break
        else:
            time.sleep(POLL_SECONDS)
    if rest:
        yield _text(rest)


def _text(line: bytes) -> str:
    return line.removesuffix(b"\n").decode("utf-8", "replace")
