"""Dispatch latency and heartbeat ingestion of the control plane.

Runs a real control plane (uvicorn, SQLite in a temporary directory) with a real agent
in-process, commanded over Celery on a loopback Redis, and prints:

- the latency from the API call that creates a unit to the agent starting to act on it
  (the moment its runtime's ``start`` is entered), p50 / p99 over N commands;
- how many agent heartbeats per second the control plane ingests.

Usage: python benchmarks/dispatch.py [--redis URL] [--commands 200] [--seconds 5]
Targets (issue 2): p50 <= 20 ms, p99 <= 100 ms.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import uvicorn

from dllab.config import Settings
from dllab.main import create_app
from dllab.protocol import GpuInfo, UnitReport, UnitSpec
from dllab_agent.client import ControlPlaneClient
from dllab_agent.gpu import discover
from dllab_agent.main import Agent

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fakes import FakeRuntime  # noqa: E402  (the in-memory Runtime of the test suite)


class TimedRuntime(FakeRuntime):
    """Notes when the agent starts to act on each unit. In memory, so that what is timed
    is the dispatch path and not process creation competing for the CPU; each unit ends
    at once, so the control plane also has the agent remove it, as it would for real."""

    def __init__(self) -> None:
        super().__init__()
        self.entered: dict[str, float] = {}

    def start(self, spec: UnitSpec) -> UnitReport:
        self.entered[spec.unit_id] = time.perf_counter()
        report = super().start(spec)
        self.finish(spec.unit_id, 0)
        return report


def serve(settings: Settings) -> uvicorn.Server:
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1",
                                           port=settings.port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure_dispatch(api: httpx.Client, runtime: TimedRuntime, commands: int) -> list[float]:
    sent: dict[str, float] = {}
    answered: list[float] = []
    for i in range(commands):
        t0 = time.perf_counter()
        answer = api.post("/units", json={"name": f"bench-{i}", "command": ["true"]})
        answer.raise_for_status()
        sent[answer.json()["id"]] = t0
        answered.append((time.perf_counter() - t0) * 1000)
        # One command at a time: this measures latency, not a queue filling up.
        while answer.json()["id"] not in runtime.entered:
            time.sleep(0.0002)
    print(f"  (API answer alone: p50 {percentile(answered, 0.5):.1f} ms)")
    return [(runtime.entered[u] - t0) * 1000 for u, t0 in sent.items()]


def measure_heartbeats(url: str, host_token: str, seconds: float, threads: int) -> float:
    gpus = [GpuInfo(index=i, uuid=f"GPU-{i:08d}-0000-0000-0000-000000000000", model="bench",
                    memory_total_mib=81920, memory_used_mib=1024, simulated=True)
            for i in range(8)]
    body = {"gpus": [g.model_dump() for g in gpus], "units": []}
    done = [0] * threads
    deadline = time.perf_counter() + seconds

    def beat(n: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {host_token}"}) as c:
            while time.perf_counter() < deadline:
                c.post("/api/v1/agent/heartbeat", json=body).raise_for_status()
                done[n] += 1

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(beat, range(threads)))
    return sum(done) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--port", type=int, default=18765)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    home = Path(tempfile.mkdtemp(prefix="dllab-bench-"))
    settings = Settings(home=home, port=args.port, redis_url=args.redis,
                        admin_password="bench-password", heartbeat_seconds=5)
    server = serve(settings)
    url = settings.url
    token = httpx.post(f"{url}/api/v1/auth/token",
                       data={"username": "admin", "password": "bench-password"}).json()
    api = httpx.Client(base_url=f"{url}/api/v1",
                       headers={"Authorization": f"Bearer {token['access_token']}"})
    host_token = api.post("/hosts", json={"name": "bench"}).json()["token"]
    runtime = TimedRuntime()
    agent = Agent(ControlPlaneClient(url, host_token), runtime, discover(8, str(home)),
                  address="127.0.0.1")
    agent.start()
    try:
        measure_dispatch(api, runtime, 10)  # warm up connections and code paths
        runtime.entered.clear()
        latencies = measure_dispatch(api, runtime, args.commands)
        rate = measure_heartbeats(url, host_token, args.seconds, args.threads)
    finally:
        agent.stop()
        server.should_exit = True

    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    print(f"dispatch: API call -> agent acting, {len(latencies)} commands over {args.redis}")
    print(f"  p50 {p50:.1f} ms (target <= 20)   p99 {p99:.1f} ms (target <= 100)   "
          f"mean {statistics.fmean(latencies):.1f} ms   max {max(latencies):.1f} ms")
    print(f"heartbeats: {rate:.0f} per second ingested ({args.threads} agents posting, "
          f"8 GPUs each, SQLite)")


if __name__ == "__main__":
    main()
