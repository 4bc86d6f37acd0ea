"""The supervisor of one process-runtime unit: ``python -I supervise.py UNIT_DIR``.

``ProcessRuntime`` runs it with the unit's environment and working directory. It detaches
(the forked supervisor leads a new session, so the unit outlives an agent restart and its
pid is the unit's process group id), records itself in ``UNIT_DIR/pid``, starts the
command of ``UNIT_DIR/spec.json`` as its child, and returns: 0 once the command runs, or 1
with the reason on stderr.

The detached supervisor then
- writes each output line to ``UNIT_DIR/log`` as ``<RFC 3339 UTC timestamp> <text>``;
- relays a SIGTERM, once, to its whole process group: the command and all it started;
- when the command ends, writes ``UNIT_DIR/exit`` and kills whatever the command left
  behind, so that nothing of a unit (a GPU-holding dataloader worker, say) outlives it.

Standard library only: it starts fast and cannot be broken by the unit's environment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

READY = b"ready"
MAX_LINE = 64 * 1024  # longer output without a newline is cut into several log lines
DRAIN_SECONDS = 2.0  # output still coming after the command ended; then leftovers die
HAVE_PROC = Path("/proc/self/stat").exists()


def process_start(pid: int) -> str | None:
    """What tells the process now at ``pid`` from any later one: its kernel start time.

    None if no live process has that pid (a zombie counts as none). Where there is no
    /proc (macOS) a pid is only checked for life, and reuse goes unnoticed.
    """
    if not HAVE_PROC:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return ""
    fields = _live_stat(Path(f"/proc/{pid}/stat"))
    return None if fields is None else fields[19]


def group_alive(pgid: int) -> bool:
    """Whether a live process (not a zombie waiting for its parent) is in group ``pgid``."""
    if not HAVE_PROC:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    pgrp = str(pgid)
    return any(
        fields is not None and fields[2] == pgrp
        for fields in map(_live_stat, Path("/proc").glob("[0-9]*/stat"))
    )


def _live_stat(path: Path) -> list[str] | None:
    """The fields of a /proc/<pid>/stat from the state on (``[0]`` is field 3 of proc(5))."""
    try:
        stat = path.read_text()
    except OSError:  # no such process, or it ended while being read
        return None
    # The command name in parentheses may hold spaces; fields after it are fixed.
    fields = stat[stat.rindex(")") + 2 :].split()
    return None if fields[0] in ("Z", "X") else fields


def write_json(path: Path, data: dict) -> None:
    """Replace ``path`` at once, so that a reader never sees half of it."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(data))
    partial.replace(path)


def main(argv: list[str]) -> int:
    unit_dir = Path(argv[1]).resolve()
    ready_read, ready_write = os.pipe()
    if os.fork():
        os.close(ready_write)
        with os.fdopen(ready_read, "rb") as ready:
            answer = ready.read()
        if answer == READY:
            return 0
        print(answer.decode() or "the supervisor died before the command started", file=sys.stderr)
        return 1
    os.close(ready_read)
    os._exit(_supervise(unit_dir, ready_write))


def _supervise(unit_dir: Path, ready: int) -> int:
    os.setsid()
    log = (unit_dir / "log").open("ab", buffering=0)
    # Keep no end of the pipes the runtime waits on; stray output of our own goes to the log.
    nothing = os.open(os.devnull, os.O_RDONLY)
    os.dup2(nothing, 0)
    os.close(nothing)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)

    asked_to_stop = relayed = False
    spawned = False

    def relay() -> None:
        nonlocal relayed
        if not relayed:  # the relay reaches us too: relay once
            relayed = True
            os.killpg(0, signal.SIGTERM)

    def on_sigterm(signum: int, frame: object) -> None:
        nonlocal asked_to_stop
        asked_to_stop = True
        if spawned:
            relay()

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        pid = os.getpid()
        write_json(
            unit_dir / "pid",
            {"pid": pid, "proc_start": process_start(pid), "started_at": time.time()},
        )
        command = json.loads((unit_dir / "spec.json").read_text())["command"]
        if asked_to_stop:
            return _refuse(ready, "the unit was stopped before its command started")
        child = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
    except OSError as exc:
        why = f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)
        return _refuse(ready, why)
    spawned = True
    if asked_to_stop:  # arrived while the command was being spawned
        relay()
    os.write(ready, READY)
    os.close(ready)

    assert child.stdout is not None
    pump = threading.Thread(target=_pump, args=(child.stdout, log), daemon=True)
    pump.start()
    code = child.wait()
    pump.join(DRAIN_SECONDS)
    write_json(
        unit_dir / "exit",
        {"exit_code": code if code >= 0 else 128 - code, "finished_at": time.time()},
    )
    # The command's leftovers die, and this supervisor with them: its work is done.
    os.killpg(0, signal.SIGKILL)
    return code  # not reached


def _pump(output: BinaryIO, log: BinaryIO) -> None:
    for line in iter(lambda: output.readline(MAX_LINE), b""):
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()
        log.write(b"%s %s%s" % (stamp, line, b"" if line.endswith(b"\n") else b"\n"))


def _refuse(ready: int, why: str) -> int:
    os.write(ready, why.encode())
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
