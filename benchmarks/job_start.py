"""How long a distributed job takes to start: from ``POST /api/v1/jobs`` until every
replica runs, on the platform as ``make run`` brings it up (docker runtime, 8 simulated
GPUs, the runtime image already built: a cached image).

Each run submits a 4-replica multi_worker_mirrored job (a chief and 3 workers, 1 GPU
each, whose command only sleeps: what is timed is DLLab's part), waits until the job is
``running`` (every replica's container reported running), then cancels it and waits for
its replicas to be stopped. It prints p50, p95 and max, and the API's own phases as
medians: submitted -> scheduled (every replica placed, TF_CONFIG written) -> running
(every container started).

Usage: python benchmarks/job_start.py [--runs 10] [--image dllab/runtime:tf-cpu]
Target (issue 5): p50 <= 5 s.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from lab import console, percentile, running_platform

PHASES = ("scheduled", "running")


def job(image: str, name: str) -> dict[str, object]:
    return {"name": name, "image": image, "command": ["sleep", "600"],
            "strategy": "multi_worker_mirrored",
            "replicas": {"chief": {"count": 1, "gpus": 1}, "worker": {"count": 3, "gpus": 1}}}


def start_one(client: httpx.Client, image: str, name: str) -> tuple[float, dict[str, float]]:
    began = time.perf_counter()
    submitted = client.post("/api/v1/jobs", json=job(image, name))
    submitted.raise_for_status()
    path = f"/api/v1/jobs/{submitted.json()['id']}"
    while (current := client.get(path).json())["status"] != "running":
        if current["status"] in ("failed", "cancelled", "succeeded"):
            raise SystemExit(f"{name} {current['status']}: {current['reason']}")
        time.sleep(0.02)
    elapsed = time.perf_counter() - began
    phases = {p["name"]: p["seconds"] or 0.0 for p in current["phases"]}
    client.post(f"{path}/cancel").raise_for_status()
    deadline = time.monotonic() + 60
    while any(r["state"] != "stopped" for r in client.get(path).json()["replicas"]):
        if time.monotonic() > deadline:
            raise SystemExit(f"{name}'s replicas still not stopped after 60 s")
        time.sleep(0.1)
    return elapsed, phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--image", default="dllab/runtime:tf-cpu")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dllab-bench-") as folder, \
            running_platform(Path(folder) / "home") as edge, console(edge) as client:
        start_one(client, args.image, "warmup")
        runs = [start_one(client, args.image, f"run-{n}") for n in range(args.runs)]

    times = [elapsed for elapsed, _ in runs]
    print(f"job start, POST /api/v1/jobs -> all 4 replicas running ({args.image}, cached)")
    print(f"  {args.runs} runs: p50 {statistics.median(times):.2f} s   "
          f"p95 {percentile(times, 0.95):.2f} s   max {max(times):.2f} s   (target: p50 <= 5 s)")
    print("  phases (median s):  " + "   ".join(
        f"{name} +{statistics.median(p[name] for _, p in runs):.2f}" for name in PHASES))


if __name__ == "__main__":
    main()
