"""What GPU monitoring costs: the agent's CPU for 1 Hz sampling, and the control plane's
ingest rate.

1. *Agent CPU per second of sampling*: the sampler of an agent with 8 GPUs, 8 units (real
   processes of the process runtime, one GPU each) holding them, sampled and sent to a
   real HTTP endpoint (another process that answers 204) as the agent does every second.
   Timed with the sampling thread's own CPU clock over many samples; at 1 Hz the CPU
   seconds of one sample are the fraction of a core it costs. Simulated GPUs are read
   from the units' CPU time in /proc (what the simulation adds over NVML's reads);
   ``scripts/gpu-check.sh`` times NVML's own reads on a real GPU.
2. *Ingest*: a real control plane (uvicorn, SQLite under a temporary DLLAB_HOME, or
   PostgreSQL with --database-url) with 100 hosts registered; threads post 8-GPU samples
   with the hosts' tokens as fast as it answers. Reports per second against the 100 a
   100-host cluster sends at 1 Hz.

Usage: python benchmarks/monitoring.py [--samples 200] [--seconds 10] [--hosts 100]
Targets (issue 7): agent <= 1% of one core; ingest >= 100 host reports/s (100 hosts x 8 GPUs).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from dllab.protocol import UnitSpec
from dllab_agent.client import ControlPlaneClient
from dllab_agent.gpu.simulated import SimulatedGpus
from dllab_agent.runtime.process import ProcessRuntime
from dllab_agent.sampling import Sampler

sys.path.insert(0, str(Path(__file__).parent))
from lab import free_port  # noqa: E402

PASSWORD = "bench-admin-password"
SINK = """
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(204); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", {port}), H).serve_forever()
"""
SERVER = """
import uvicorn
from dllab.config import Settings
from dllab.main import create_app
uvicorn.run(create_app(Settings()), host="127.0.0.1", port={port}, log_level="warning")
"""


def wait_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{url} did not come up") from None
            time.sleep(0.1)


def agent_cpu(samples: int, folder: Path) -> float:
    port = free_port()
    sink = subprocess.Popen([sys.executable, "-c", SINK.format(port=port)])
    runtime = ProcessRuntime(folder / "agent")
    try:
        wait_up(f"http://127.0.0.1:{port}/", sink)
        for index in range(8):
            runtime.start(UnitSpec(unit_id=f"unit{index}", name=f"unit{index}",
                                   command=["sleep", "600"], gpus=[index],
                                   labels={"dllab.owner": "bench", "dllab.kind": "job"}))
        client = ControlPlaneClient(f"http://127.0.0.1:{port}", "token")
        sampler = Sampler(SimulatedGpus(8, "bench"), runtime, client)
        sampler.sample()
        assert all(g.holder for g in sampler.sample().gpus), "every GPU held"
        cpu: list[float] = []

        def run() -> None:
            start = time.thread_time()
            for _ in range(samples):
                client.send_metrics(sampler.sample())
            cpu.append(time.thread_time() - start)

        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        client.close()
        return cpu[0] / samples
    finally:
        for unit in runtime.list():
            runtime.stop(unit.unit_id, timeout=2)
        sink.kill()


def ingest(hosts: int, seconds: float, threads: int, folder: Path,
           database_url: str | None) -> float:
    port = free_port()
    env = {**os.environ, "DLLAB_HOME": str(folder / "home"), "DLLAB_ADMIN_PASSWORD": PASSWORD,
           "DLLAB_SCHEDULER_SECONDS": "0"}
    if database_url:
        env["DLLAB_DATABASE_URL"] = database_url
    server = subprocess.Popen([sys.executable, "-c", SERVER.format(port=port)], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(f"{base}/api/v1/health", server)
        token = httpx.post(f"{base}/api/v1/auth/token", data={
            "username": "admin", "password": PASSWORD}).json()["access_token"]
        admin = httpx.Client(base_url=f"{base}/api/v1",
                             headers={"Authorization": f"Bearer {token}"}, timeout=30)
        gpus = [{"index": i, "uuid": f"GPU-bench-{i}", "model": "DLLab Simulated GPU",
                 "memory_total_mib": 16384, "memory_used_mib": 4000, "utilization_pct": 70,
                 "temperature_c": 60, "power_w": 210.0, "sm_clock_mhz": 1300,
                 "ecc_uncorrected": 0, "simulated": True} for i in range(8)]
        tokens = []
        for index in range(hosts):
            host_token = admin.post("/hosts", json={"name": f"bench-{index}"}).json()["token"]
            httpx.post(f"{base}/api/v1/agent/register",
                       headers={"Authorization": f"Bearer {host_token}"},
                       json={"runtime": "process", "address": "127.0.0.1", "version": "bench",
                             "gpus": gpus, "units": []}).raise_for_status()
            tokens.append(host_token)
        done = [0] * threads
        stop_at = time.monotonic() + seconds

        def post(worker: int) -> None:
            with httpx.Client(base_url=base, timeout=30) as client:
                index = worker
                while time.monotonic() < stop_at:
                    answer = client.post("/api/v1/agent/metrics", headers={
                        "Authorization": f"Bearer {tokens[index % hosts]}"},
                        json={"taken_at": time.time(), "gpus": gpus})
                    answer.raise_for_status()
                    done[worker] += 1
                    index += threads

        started = time.monotonic()
        workers = [threading.Thread(target=post, args=(w,)) for w in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        admin.close()
        return sum(done) / (time.monotonic() - started)
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dllab-bench-monitoring-") as tmp:
        per_sample = agent_cpu(args.samples, Path(tmp))
        print(f"agent, 8 GPUs held by 8 units, sampled and sent: {per_sample * 1000:.2f} ms "
              f"CPU per sample = {per_sample * 100:.2f}% of one core at 1 Hz (target <= 1%)")
        rate = ingest(args.hosts, args.seconds, args.threads, Path(tmp), args.database_url)
        print(f"control plane ingest, {args.hosts} hosts x 8 GPUs "
              f"({args.database_url or 'SQLite'}): {rate:.0f} reports/s = "
              f"{rate / args.hosts:.1f}x what {args.hosts} hosts send at 1 Hz (target >= 1x)")


if __name__ == "__main__":
    main()
