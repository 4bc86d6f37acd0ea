"""How long an environment takes to start: from the API call to JupyterLab answering
through JupyterHub and the edge proxy, on the platform as ``make run`` brings it up.

``dllab up`` runs in a temporary DLLAB_HOME on free ports (control plane, Traefik,
JupyterHub, a local agent on the docker runtime with 8 simulated GPUs); the runtime image is
already built (``make images``), so nothing is pulled: a cached image.

- *Sequential*: N environments (1 GPU each) one after the other. Each is timed from
  ``POST /api/v1/environments`` until ``GET <urls.jupyter>`` answers 200 with JupyterLab for
  the logged-in user (console session carried over by the hub), then deleted. p50, p95, max.
- *Concurrent*: C environments created at once; the time until all of them answer.
- *Phases*: the API's own timing of each start (requested -> created: the hub asked for the
  unit; -> scheduled: GPUs given; -> started: the container runs; -> ready: routed and
  answering), as medians.

Usage: python benchmarks/env_start.py [--runs 10] [--concurrent 5] [--image dllab/runtime:tf-cpu]
Targets (issue 4), on a 2-core machine: p50 <= 5 s, p95 <= 10 s; 5 concurrent <= 60 s.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lab import console, percentile, running_platform

PHASES = ("created", "scheduled", "started", "ready")
FINAL = {"stopped", "exited", "failed", "lost"}


def start_one(edge: str, name: str, image: str) -> tuple[float, dict[str, float]]:
    """Seconds from the API call until JupyterLab answers through the hub, and the phases."""
    with console(edge) as client:
        began = time.perf_counter()
        created = client.post("/api/v1/environments",
                              json={"name": name, "image": image, "gpus": 1})
        created.raise_for_status()
        path = f"/api/v1/environments/{created.json()['id']}"
        while True:
            env = client.get(path).json()
            if env["state"] == "failed":
                raise SystemExit(f"{name} failed: {env['reason']}")
            if env["urls"]:
                page = client.get(env["urls"]["jupyter"])
                if page.status_code == 200 and "JupyterLab" in page.text:
                    break
            time.sleep(0.05)
        elapsed = time.perf_counter() - began
        phases = {p["name"]: p["seconds"] for p in client.get(path).json()["phases"]}
        return elapsed, phases


def delete_all(edge: str) -> None:
    """Delete every environment and wait until their containers are gone: the next start is
    timed alone, and none is left running when the platform stops."""
    with console(edge) as client:
        units = []
        for env in client.get("/api/v1/environments", params={"limit": 500}).json()["data"]:
            client.delete(f"/api/v1/environments/{env['id']}").raise_for_status()
            units += [env["unit"]] if env["unit"] else []
        deadline = time.monotonic() + 60
        while any(client.get(f"/api/v1/units/{u}").json()["state"] not in FINAL for u in units):
            if time.monotonic() > deadline:
                raise SystemExit(f"environments' units still not stopped after 60 s: {units}")
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--concurrent", type=int, default=5)
    parser.add_argument("--image", default="dllab/runtime:tf-cpu")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dllab-bench-") as folder:
        home = Path(folder) / "home"
        with running_platform(home) as edge:
            start_one(edge, "warmup", args.image)  # first use: the hub meets the user
            delete_all(edge)
            times, phases = [], []
            for run in range(args.runs):
                elapsed, phase = start_one(edge, f"seq-{run}", args.image)
                times.append(elapsed)
                phases.append(phase)
                delete_all(edge)
            began = time.perf_counter()
            with ThreadPoolExecutor(args.concurrent) as pool:
                together = list(pool.map(lambda n: start_one(edge, f"par-{n}", args.image),
                                         range(args.concurrent)))
            all_ready = time.perf_counter() - began
            delete_all(edge)

    print(f"environment start, API call -> JupyterLab through the hub ({args.image}, cached)")
    print(f"  sequential, {args.runs} runs: p50 {statistics.median(times):.2f} s   "
          f"p95 {percentile(times, 0.95):.2f} s   max {max(times):.2f} s"
          f"   (targets: p50 <= 5 s, p95 <= 10 s)")
    print("  phases (median s):  " + "   ".join(
        f"{name} {statistics.median(p[name] or 0.0 for p in phases):.2f}" for name in PHASES))
    print(f"  {args.concurrent} concurrent: all answering after {all_ready:.2f} s "
          f"(each: {', '.join(f'{t:.1f}' for t, _ in together)} s)   (target <= 60 s)")


if __name__ == "__main__":
    main()
