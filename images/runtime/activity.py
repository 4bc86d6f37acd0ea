#!/opt/dllab/bin/python
"""dllab-activity: tell JupyterHub the environment is in use where JupyterLab cannot see it.

JupyterLab reports its own activity (kernel messages, terminals, requests) to the hub. It
cannot see an open SSH session, nor a kernel at work on a long cell that prints nothing.
Every DLLAB_ACTIVITY_SECONDS this reports either to the hub's activity API, with the
server's own token, so that DLLab's idle culling stops only what nobody uses.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def ssh_sessions() -> int:
    """Sessions of dev: sshd names their processes 'sshd: dev@pts/0' (or '@notty')."""
    count = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if cmdline.read_bytes().startswith((b"sshd: dev@", b"sshd-session: dev@")):
                count += 1
        except OSError:
            continue  # ended meanwhile
    return count


def kernel_cpu_seconds() -> dict[int, float]:
    """CPU time used so far by each kernel process. Read from /proc, not asked of Jupyter:
    a request to JupyterLab would itself count as use there."""
    used = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"ipykernel" not in cmdline.read_bytes():
                continue
            fields = (cmdline.parent / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        used[int(cmdline.parent.name)] = (int(fields[11]) + int(fields[12])) / TICKS
    return used


def report(url: str, token: str, server: str) -> None:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    body = json.dumps({"servers": {server: {"last_activity": now}}, "last_activity": now})
    request = urllib.request.Request(url, data=body.encode(), method="POST", headers={
        "Authorization": f"token {token}", "Content-Type": "application/json"})
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except OSError as exc:
        print(f"dllab-activity: could not reach the hub: {exc}", flush=True)


def main() -> None:
    token = os.environ["JUPYTERHUB_API_TOKEN"]
    url = os.environ["JUPYTERHUB_ACTIVITY_URL"]
    server = os.environ.get("JUPYTERHUB_SERVER_NAME", "")
    interval = float(os.environ.get("DLLAB_ACTIVITY_SECONDS", "60"))
    before = kernel_cpu_seconds()
    while True:
        time.sleep(interval)
        now = kernel_cpu_seconds()
        # At work: a kernel that used a tenth of the interval's CPU time, or more.
        working = any(used - before.get(pid, 0.0) >= interval / 10 for pid, used in now.items())
        before = now
        if working or ssh_sessions():
            report(url, token, server)


if __name__ == "__main__":
    main()
