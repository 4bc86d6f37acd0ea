"""Dispatch latency and heartbeat ingestion of the control plane.

Runs the platform as it runs for real, each part in its own process: the control plane
(``dllab server``: uvicorn, SQLite in a temporary directory), one agent commanded over
Celery on a loopback Redis, and this script as the API client. It prints:

- the latency from the API call that creates a unit to the agent starting to act on it
  (its runtime's ``start`` entered), p50 / p99 over N commands, one at a time;
- how many agent heartbeats per second the control plane ingests.

Both processes read the same system-wide monotonic clock, so the two ends compare.

Usage: python benchmarks/dispatch.py [--redis URL] [--commands 200] [--seconds 5]
Targets (issue 2): p50 <= 20 ms, p99 <= 100 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from dllab.protocol import GpuInfo, UnitReport, UnitSpec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fakes import FakeRuntime  # noqa: E402  (the in-memory Runtime of the test suite)

PASSWORD = "bench-password"


class TimedRuntime(FakeRuntime):
    """Prints when the agent starts to act on each unit. In memory, so that what is timed
    is the dispatch path, not process creation competing for the CPU."""

    def start(self, spec: UnitSpec) -> UnitReport:
        print(spec.unit_id, time.monotonic(), flush=True)
        return super().start(spec)


def run_agent(server: str, token: str) -> None:
    """The agent process: a real agent on the in-memory timed runtime; stdout carries
    "<unit id> <monotonic time>" for each unit it starts."""
    from dllab_agent.client import ControlPlaneClient
    from dllab_agent.gpu import discover
    from dllab_agent.main import Agent

    agent = Agent(ControlPlaneClient(server, token), TimedRuntime(),
                  discover(8, "bench"), address="127.0.0.1")
    agent.start()
    agent.wait()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Marks:
    """When the agent process started to act on each unit, read from its stdout."""

    def __init__(self, agent: subprocess.Popen[str]) -> None:
        self.seen: dict[str, float] = {}
        self.changed = threading.Condition()
        threading.Thread(target=self._read, args=(agent,), daemon=True).start()

    def _read(self, agent: subprocess.Popen[str]) -> None:
        assert agent.stdout is not None
        for line in agent.stdout:
            unit_id, at = line.split()
            with self.changed:
                self.seen[unit_id] = float(at)
                self.changed.notify_all()

    def wait(self, unit_id: str, timeout: float) -> float:
        with self.changed:
            if not self.changed.wait_for(lambda: unit_id in self.seen, timeout):
                raise SystemExit(f"the agent never acted on unit {unit_id}")
            return self.seen[unit_id]


def measure_dispatch(api: httpx.Client, marks: Marks, commands: int,
                     gap: float) -> list[float]:
    latencies = []
    for i in range(commands):
        t0 = time.monotonic()
        answer = api.post("/units", json={"name": f"bench-{i}", "command": ["true"]})
        answer.raise_for_status()
        # One command at a time: this measures latency, not a queue filling up.
        latencies.append((marks.wait(answer.json()["id"], timeout=10) - t0) * 1000)
        time.sleep(gap)
    return latencies


def measure_heartbeats(url: str, host_token: str, seconds: float, threads: int) -> float:
    gpus = [GpuInfo(index=i, uuid=f"GPU-{i:08d}-0000-0000-0000-000000000000", model="bench",
                    memory_total_mib=81920, memory_used_mib=1024, simulated=True)
            for i in range(8)]
    body = {"gpus": [g.model_dump() for g in gpus], "units": []}
    done = [0] * threads
    deadline = time.monotonic() + seconds

    def beat(n: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {host_token}"}) as c:
            while time.monotonic() < deadline:
                c.post("/api/v1/agent/heartbeat", json=body).raise_for_status()
                done[n] += 1

    start = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(beat, range(threads)))
    return sum(done) / (time.monotonic() - start)


def wait_http(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--database", default=None,
                        help="SQLAlchemy URL of an empty database; default SQLite")
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--gap", type=float, default=0.02,
                        help="seconds between commands: each is timed alone, not queued "
                        "behind the last one's follow-up traffic")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument("--agent", nargs=2, metavar=("SERVER", "TOKEN"),
                        help=argparse.SUPPRESS)  # internal: run as the agent process
    args = parser.parse_args()
    if args.agent:
        run_agent(*args.agent)
        return

    home = Path(tempfile.mkdtemp(prefix="dllab-bench-"))
    url = f"http://127.0.0.1:{args.port}"
    env = {**os.environ, "DLLAB_HOME": str(home), "DLLAB_PORT": str(args.port),
           "DLLAB_REDIS_URL": args.redis, "DLLAB_ADMIN_PASSWORD": PASSWORD}
    if args.database:
        env["DLLAB_DATABASE_URL"] = args.database
    children = [subprocess.Popen([sys.executable, "-m", "dllab.cli", "server"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        wait_http(f"{url}/api/v1/health")
        token = httpx.post(f"{url}/api/v1/auth/token",
                           data={"username": "admin", "password": PASSWORD}).json()
        api = httpx.Client(base_url=f"{url}/api/v1",
                           headers={"Authorization": f"Bearer {token['access_token']}"})
        host_token = api.post("/hosts", json={"name": "bench"}).json()["token"]
        children.append(subprocess.Popen([sys.executable, __file__, "--agent", url, host_token],
                                         env=env, stdout=subprocess.PIPE, text=True))
        marks = Marks(children[-1])
        while api.get("/hosts").json()["data"][0]["status"] != "online":
            time.sleep(0.1)
        measure_dispatch(api, marks, 10, args.gap)  # warm up connections and code paths
        latencies = measure_dispatch(api, marks, args.commands, args.gap)
        rate = measure_heartbeats(url, host_token, args.seconds, args.threads)
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(30)

    database = "PostgreSQL" if args.database else "SQLite"
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    print(f"dispatch: API call -> agent acting, {len(latencies)} commands "
          f"{args.gap * 1000:.0f} ms apart, over {args.redis}, {database}")
    print(f"  p50 {p50:.1f} ms (target <= 20)   p99 {p99:.1f} ms (target <= 100)   "
          f"mean {statistics.fmean(latencies):.1f} ms   max {max(latencies):.1f} ms")
    print(f"heartbeats: {rate:.0f} per second ingested ({args.threads} agents posting at "
          f"once, 8 GPUs each, {database}): enough for {rate * 5:.0f} hosts at one per 5 s")


if __name__ == "__main__":
    main()
