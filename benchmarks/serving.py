"""What dllab-serve and the edge proxy give a prediction service, against what users write
by hand, on one model in one run: the digits classifier (examples/digits_export.py),
one instance (64 floats) per request, as a small online request is.

Three servers answer the same URL path, ``/v1/models/digits:predict``, with TensorFlow
Serving's JSON:

- plain: a FastAPI endpoint under uvicorn (1 worker) that loads the SavedModel and calls
  its ``serving_default`` signature once per request (a ``def`` endpoint: FastAPI runs it
  in its thread pool, the advice for blocking code);
- dllab-serve: the runtime image's model server, batching concurrent requests
  (--max-batch-size 32 --batch-timeout-ms 2, the defaults a service gets);
- dllab-serve + LB: the same container behind Traefik, with the routes DLLab writes for a
  prediction service (dllab.serving.routes, under ``/serving/bench/``) and DLLab's static
  configuration (dllab.edge).

Each server runs in its own container of the runtime image, pinned to the same CPUs
(--cpus of them, the last ones); the load generator and Traefik run on the other CPUs, so
that they do not take the servers' time (their CPU use is printed: near 100%, the row
measures them). The load generator is a minimal asyncio HTTP/1.1 client: C keep-alive
connections, each sending its next request as soon as the previous one is answered; it
reports requests/s and p50/p99 latency. At each concurrency the servers take turns in
short rounds, so that what else the machine does (others' tests) spreads over all three.
The proxy's cost is measured apart, at concurrency 1, alternating request by request
between dllab-serve direct and through the proxy: p50 through it minus p50 direct.

Usage: python benchmarks/serving.py [--seconds 5] [--concurrency 1,8,32] [--cpus 1]
                                    [--image dllab/runtime:tf-cpu]
Targets (issue): batching >= 2x the plain endpoint's throughput at concurrency 32; the load
balancer adds <= 1 ms at p50 (concurrency 1). It always exits 0: it prints, one decides.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import docker
import httpx
from docker.models.containers import Container
from lab import free_port, percentile

from dllab.config import Settings
from dllab.edge import static_config, traefik_binary
from dllab.serving.routes import Backend, Route, dynamic_config, prefix

ROOT = Path(__file__).resolve().parent.parent
MODEL = "digits"
PREDICT = f"/v1/models/{MODEL}:predict"
SERVICE = "bench"
CONTAINER_PORT = 8501
WARMUP_S = 1.0
ROUNDS = 5  # the servers take turns at each concurrency, seconds / ROUNDS each
ROUND_WARMUP_S = 0.2  # a later turn: new connections, the server is warm
PLAIN = "plain FastAPI (uvicorn, 1 worker)"
DIRECT = "dllab-serve (batching)"
PROXIED = "dllab-serve + LB (Traefik)"
# The first image of scikit-learn's digits (a 0), scaled to [0, 1] as the model wants.
DIGIT = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0,
         0, 4, 12, 0, 0, 8, 8, 0, 0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0,
         0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0]
BODY = json.dumps({"instances": [[v / 16 for v in DIGIT]]}).encode()

# What users write by hand: load the SavedModel, call it once per request.
PLAIN_APP = f'''
import tensorflow as tf
from fastapi import FastAPI

loaded = tf.saved_model.load("/models/{MODEL}/1")
app = FastAPI()


@app.post("{PREDICT}")
def predict(body: dict) -> dict:
    outputs = loaded.signatures["serving_default"](
        pixels=tf.constant(body["instances"], tf.float32))
    digits = outputs["digit"].numpy().tolist()
    probabilities = outputs["probabilities"].numpy().tolist()
    return {{"predictions": [{{"digit": d, "probabilities": p}}
                            for d, p in zip(digits, probabilities)]}}
'''


# --- the servers ---------------------------------------------------------------------------

def export_model(client: docker.DockerClient, image: str, folder: Path) -> None:
    """The digits SavedModel, version 1, under folder/digits (trained in the image)."""
    folder.chmod(0o755)  # the image's user (dev) reads it
    (folder / MODEL).mkdir()
    (folder / MODEL).chmod(0o777)  # and writes the model
    remove_stale(client, "dllab-bench-export")
    client.containers.run(
        image, ["python", "/examples/digits_export.py", f"/models/{MODEL}", "--version", "1"],
        entrypoint=[], name="dllab-bench-export", remove=True, network_disabled=True,
        volumes={str(ROOT / "examples"): {"bind": "/examples", "mode": "ro"},
                 str(folder): {"bind": "/models", "mode": "rw"}},
        environment={"TF_CPP_MIN_LOG_LEVEL": "2"})


def start_server(client: docker.DockerClient, image: str, name: str, command: list[str],
                 folder: Path, cpus: str) -> Container:
    """A container answering on 127.0.0.1:<random port>, pinned to ``cpus``."""
    remove_stale(client, name)
    return client.containers.run(
        image, command, name=name, detach=True, cpuset_cpus=cpus,
        ports={f"{CONTAINER_PORT}/tcp": ("127.0.0.1", None)},
        volumes={str(folder): {"bind": "/models", "mode": "ro"}},
        environment={"TF_CPP_MIN_LOG_LEVEL": "2"})


def remove_stale(client: docker.DockerClient, name: str) -> None:
    """A previous run's container, left when that run was killed before cleaning up."""
    with suppress(docker.errors.NotFound):
        client.containers.get(name).remove(force=True)


def host_port(container: Container) -> int:
    container.reload()
    return int(container.ports[f"{CONTAINER_PORT}/tcp"][0]["HostPort"])


def wait_ready(url: str, container: Container | None, seconds: float = 180) -> None:
    """Until a prediction is answered (TensorFlow's import and the load take a while)."""
    deadline = time.monotonic() + seconds
    while True:
        with suppress(httpx.HTTPError):
            answer = httpx.post(url, content=BODY, timeout=5,
                                headers={"Content-Type": "application/json"})
            if answer.status_code == 200:
                if answer.json()["predictions"][0]["digit"] != 0:
                    raise SystemExit(f"{url} answered a wrong prediction: {answer.text[:200]}")
                return
        if container is not None:
            container.reload()
            if container.status == "exited":
                raise SystemExit(f"{container.name} exited:\n{container.logs().decode()}")
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} not answering after {seconds:.0f} s")
        time.sleep(0.5)


@contextmanager
def traefik(folder: Path, backend_port: int) -> Iterator[tuple[int, int]]:
    """Traefik with DLLab's static configuration and the service's routes; yields its port
    and process id."""
    settings = Settings(home=folder / "home", edge_port=free_port(), edge_api_port=free_port())
    dynamic = settings.edge_dir / "dynamic"
    dynamic.mkdir(parents=True)
    route = Route(service=SERVICE, weights={"stable": 100}, labels={}, token=None)
    routes = dynamic_config(route, [Backend(url=f"http://127.0.0.1:{backend_port}",
                                            track="stable", version=1)])
    (dynamic / f"service-{SERVICE}.yaml").write_text(json.dumps(routes))
    static = settings.edge_dir / "traefik.yaml"
    static.write_text(json.dumps(static_config(settings)))
    log = (folder / "traefik.log").open("wb")
    proxy = subprocess.Popen([traefik_binary(), f"--configFile={static}"], stdout=log,
                             stderr=subprocess.STDOUT)
    try:
        yield settings.edge_port, proxy.pid
    finally:
        proxy.terminate()
        proxy.wait(10)
        log.close()


# --- the load generator --------------------------------------------------------------------

@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)  # seconds, 200s only
    errors: int = 0
    seconds: float = 0.0

    def add(self, other: Result) -> None:
        self.latencies += other.latencies
        self.errors += other.errors
        self.seconds += other.seconds

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000 if self.latencies else float("nan")


def request_bytes(port: int, path: str) -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(BODY)}\r\n\r\n")
    return head.encode() + BODY


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   request: bytes) -> int:
    """One request on a keep-alive connection; returns the status (the body is read)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in lines[1:]
                   if line[:15].lower() == b"content-length:"), None)
    if length is None:  # every server here sends it; anything else is not measured right
        raise ConnectionError(f"no Content-Length in {head[:200]!r}")
    await reader.readexactly(length)
    return int(lines[0].split(b" ", 2)[1])


async def connection(port: int, request: bytes, start: float, stop: float) -> Result:
    """Requests back to back until ``stop``; those sent from ``start`` on are counted."""
    result = Result()
    clock = time.perf_counter
    writer = None
    while clock() < stop:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            sent = clock()
            code = await exchange(reader, writer, request)
            if sent >= start:
                if code == 200:
                    result.latencies.append(clock() - sent)
                else:
                    result.errors += 1
        except (OSError, asyncio.IncompleteReadError, ValueError):
            result.errors += clock() >= start
            if writer is not None:
                writer.close()
            writer = None
    if writer is not None:
        writer.close()
    return result


async def load(port: int, path: str, concurrency: int, seconds: float,
               warmup: float) -> Result:
    request = request_bytes(port, path)
    start = time.perf_counter() + warmup
    results = await asyncio.gather(*(connection(port, request, start, start + seconds)
                                     for _ in range(concurrency)))
    total = Result(seconds=seconds)
    for result in results:
        total.add(result)
    return total


def measure(port: int, path: str, concurrency: int, seconds: float,
            warmup: float = WARMUP_S) -> Result:
    return asyncio.run(load(port, path, concurrency, seconds, warmup))


async def alternated(targets: list[tuple[int, str]], seconds: float) -> list[list[float]]:
    """Concurrency 1 on each target in turn, request by request, the order flipped every
    turn: whatever else the machine does falls on all of them alike. Latencies (s)."""
    connections = []
    for port, path in targets:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        connections.append((reader, writer, request_bytes(port, path)))
    latencies: list[list[float]] = [[] for _ in targets]
    clock = time.perf_counter
    start = clock() + WARMUP_S
    turn = 0
    while clock() < start + seconds:
        order = list(enumerate(connections))
        for index, (reader, writer, request) in order if turn % 2 else order[::-1]:
            sent = clock()
            if await exchange(reader, writer, request) == 200 and sent >= start:
                latencies[index].append(clock() - sent)
        turn += 1
    for _, writer, _ in connections:
        writer.close()
    return latencies


# --- one row of the table ------------------------------------------------------------------

@dataclass(frozen=True)
class Server:
    name: str
    port: int
    path: str
    serve_port: int | None  # dllab-serve's, for its batch sizes (None: not dllab-serve)


@dataclass
class Row:
    server: Server
    concurrency: int
    result: Result = field(default_factory=Result)
    rows: float = 0.0  # dllab-serve's model runs, and the rows they had
    runs: float = 0.0
    client_cpu: float = 0.0  # s, the load generator's and Traefik's
    wall: float = 0.0


def batch_totals(port: int) -> tuple[float, float]:
    """dllab-serve's batch size histogram so far: (rows, runs)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    values = dict(line.rsplit(" ", 1) for line in text.splitlines()
                  if line.startswith("dllab_serve_batch_size_"))
    return (float(values["dllab_serve_batch_size_sum"]),
            float(values["dllab_serve_batch_size_count"]))


def cpu_seconds(traefik_pid: int) -> float:
    """CPU time of this process (the load generator) and Traefik so far."""
    own = os.times()
    stat = Path(f"/proc/{traefik_pid}/stat").read_text().rsplit(")", 1)[1].split()
    return own.user + own.system + (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def measure_into(row: Row, seconds: float, warmup: float, traefik_pid: int) -> None:
    """One stretch of load on ``row``'s server, added to the row."""
    server = row.server
    before = batch_totals(server.serve_port) if server.serve_port else (0.0, 0.0)
    cpu, began = cpu_seconds(traefik_pid), time.perf_counter()
    row.result.add(measure(server.port, server.path, row.concurrency, seconds, warmup))
    row.wall += time.perf_counter() - began
    row.client_cpu += cpu_seconds(traefik_pid) - cpu
    if server.serve_port:
        rows, runs = (b - a for a, b in zip(before, batch_totals(server.serve_port),
                                             strict=True))
        row.rows += rows
        row.runs += runs


def level_rows(servers: list[Server], concurrency: int, seconds: float,
               traefik_pid: int) -> list[Row]:
    """Every server at one concurrency, taking turns in short rounds, so that what the
    machine does meanwhile spreads over all of them."""
    rows = [Row(server, concurrency) for server in servers]
    for n in range(ROUNDS):
        for row in rows:
            measure_into(row, seconds / ROUNDS, WARMUP_S if n == 0 else ROUND_WARMUP_S,
                         traefik_pid)
    return rows


# --- the run -------------------------------------------------------------------------------

def cpu_split(servers: int) -> tuple[set[int], set[int]]:
    """The servers' CPUs (the last ``servers``) and the rest, for the client and Traefik."""
    mine = sorted(os.sched_getaffinity(0))
    if servers >= len(mine):
        return set(mine), set(mine)
    return set(mine[-servers:]), set(mine[:-servers])


@dataclass
class Setup:
    image: str
    seconds: float
    server_cpus: str
    client_cpus: str


def run(setup: Setup, levels: list[int], folder: Path) -> tuple[list[Row], list[list[float]]]:
    """Start the servers, measure, stop them: the table's rows, and c=1 latencies of
    dllab-serve direct and through the proxy, alternated request by request."""
    client = docker.from_env()
    containers: list[Container] = []
    try:
        began = time.monotonic()
        export_model(client, setup.image, folder)
        (folder / "plain_app.py").write_text(PLAIN_APP)
        containers.append(start_server(client, setup.image, "dllab-bench-plain", [
            "python", "-m", "uvicorn", "--app-dir", "/models", "plain_app:app",
            "--host", "0.0.0.0", "--port", str(CONTAINER_PORT), "--workers", "1",
            "--no-access-log", "--log-level", "warning"], folder, setup.server_cpus))
        containers.append(start_server(client, setup.image, "dllab-bench-serve", [
            "dllab-serve", "--model-name", MODEL, "--model-base-path", f"/models/{MODEL}",
            "--port", str(CONTAINER_PORT), "--max-batch-size", "32",
            "--batch-timeout-ms", "2"], folder, setup.server_cpus))
        plain_port, serve_port = (host_port(c) for c in containers)
        with traefik(folder, serve_port) as (lb_port, traefik_pid):
            servers = [Server(PLAIN, plain_port, PREDICT, None),
                       Server(DIRECT, serve_port, PREDICT, serve_port),
                       Server(PROXIED, lb_port, prefix(SERVICE) + PREDICT, serve_port)]
            for server, container in zip(servers, [*containers, None], strict=True):
                wait_ready(f"http://127.0.0.1:{server.port}{server.path}", container)
            print(f"(set up in {time.monotonic() - began:.0f} s)", file=sys.stderr)
            rows = [row for level in levels
                    for row in level_rows(servers, level, setup.seconds, traefik_pid)]
            pairs = asyncio.run(alternated([(s.port, s.path) for s in servers[1:]],
                                           setup.seconds))
        return rows, pairs
    finally:
        for container in containers:
            with suppress(docker.errors.APIError):
                container.remove(force=True)


def report(setup: Setup, rows: list[Row], pairs: list[list[float]]) -> None:
    print(f"serving the digits model, 1 instance (64 floats) per request ({setup.image})")
    print(f"  each server in its own container on CPU {setup.server_cpus} (cpuset, the same "
          f"for all); the load generator and Traefik on CPU {setup.client_cpus}")
    print(f"  {setup.seconds:g} s per point after a {WARMUP_S:g} s warm-up, the servers taking "
          f"turns in {ROUNDS} rounds; rows/run: dllab-serve's mean batch; client CPU: the "
          "load generator's and Traefik's share of their CPU (near 100%, they are the limit)")
    print(f"  {'server':<34}{'conc':>5}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
          f"{'rows/run':>10}{'client CPU':>12}")
    cores = len(setup.client_cpus.split(","))
    for row in rows:
        batch = f"{row.rows / row.runs:.1f}" if row.runs else "-"
        print(f"  {row.server.name:<34}{row.concurrency:>5}{row.result.rate:>9.0f}"
              f"{row.result.p(0.5):>9.2f}{row.result.p(0.99):>9.2f}{row.result.errors:>8}"
              f"{batch:>10}{100 * row.client_cpu / row.wall / cores:>11.0f}%")

    top = max(row.concurrency for row in rows)
    rate = {row.server.name: row.result.rate for row in rows if row.concurrency == top}
    if rate.get(PLAIN) and rate.get(DIRECT):
        ratio = rate[DIRECT] / rate[PLAIN]
        print(f"batching vs plain at c={top}: {ratio:.2f}x (target >= 2x)  "
              f"{verdict(ratio >= 2)}")
    direct, proxied = (statistics.median(p) * 1000 for p in pairs)
    overhead = proxied - direct
    print(f"load balancer p50 overhead at c=1: {overhead:+.2f} ms (target <= 1 ms; "
          f"{direct:.2f} -> {proxied:.2f} ms over {len(pairs[0])} requests each, alternated "
          f"request by request)  {verdict(overhead <= 1)}")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured, per point")
    parser.add_argument("--concurrency", default="1,8,32",
                        help="connections, comma-separated")
    parser.add_argument("--cpus", type=int, default=1, help="CPUs each server may use")
    parser.add_argument("--image", default="dllab/runtime:tf-cpu")
    args = parser.parse_args()

    server_cpus, client_cpus = cpu_split(args.cpus)
    os.sched_setaffinity(0, client_cpus)  # Traefik, started later, inherits it
    setup = Setup(args.image, args.seconds, ",".join(map(str, sorted(server_cpus))),
                  ",".join(map(str, sorted(client_cpus))))
    with tempfile.TemporaryDirectory(prefix="dllab-bench-serving-") as folder:
        rows, pairs = run(setup, [int(c) for c in args.concurrency.split(",")], Path(folder))
    report(setup, rows, pairs)


if __name__ == "__main__":
    main()
