"""GPU monitoring for real: ``dllab up`` (docker runtime, 4 simulated GPUs driven by what
runs on them), a job that keeps its GPU busy, an alert rule with a real webhook receiver,
and the idle-GPU policy reclaiming an idle environment."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dllab.dcgm import NAMES
from lab_fixture import RUNTIME_IMAGE, Lab, eventually, running_lab

pytestmark = [pytest.mark.docker, pytest.mark.redis]

# Keeps one CPU core busy (one simulated GPU at 100%) for a minute, unless cancelled.
BURN = ["python", "-c", "import time\nprint('burning', flush=True)\nend = time.time() + 60\n"
        "while time.time() < end: pass"]


@pytest.fixture(scope="module")
def lab(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    folder = tmp_path_factory.mktemp("monitoring-lab")
    with running_lab(docker_client, folder, HEARTBEAT_SECONDS="1", SCHEDULER_SECONDS="1") as lab:
        yield lab


class Webhooks:
    """A real HTTP server that keeps the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server API)
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[str]:
        return [body["event"] for body in self.received]


@pytest.fixture
def webhooks() -> Iterator[Webhooks]:
    hooks = Webhooks()
    yield hooks
    hooks.server.shutdown()
    hooks.server.server_close()


def scrape(url: str, headers: dict[str, str] | None = None) -> dict[str, list[Any]]:
    answer = httpx.get(url, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    return {family.name: family.samples
            for family in text_string_to_metric_families(answer.text)}


def busy_sample(families: dict[str, list[Any]], unit: str) -> Any:
    for sample in families.get("DCGM_FI_DEV_GPU_UTIL", []):
        if sample.labels["dllab_unit"] == unit and sample.value >= 50:
            return sample
    return None


def test_a_busy_job_shows_in_metrics_and_history_and_fires_then_resolves_an_alert(
        lab: Lab, webhooks: Webhooks):
    rule = lab.admin.post("/alerts/rules", json={
        "name": "busy-gpu", "metric": "gpu_util", "op": ">", "threshold": 50,
        "duration_seconds": 2, "severity": "info", "allocated_only": True,
        "webhook_url": webhooks.url})
    assert rule.status_code == 201, rule.text
    trainer = lab.add_user("trainer")
    job = trainer.post("/api/v1/jobs", json={
        "name": "burn", "image": RUNTIME_IMAGE, "command": BURN,
        "replicas": {"chief": {"count": 1, "gpus": 1}}, "max_restarts": 0})
    assert job.status_code == 201, job.text
    job_id = job.json()["id"]

    def burning() -> str | None:
        replicas = trainer.get(f"/api/v1/jobs/{job_id}").json()["replicas"]
        unit = replicas[0]["unit"] if replicas else None
        log = trainer.get(f"/api/v1/units/{unit}/logs").text if unit else ""
        return unit if "burning" in log else None

    unit = eventually(burning, "the job's replica burning CPU", timeout=120)

    # The control plane's /metrics (an admin's token) and the agent's own, DCGM names.
    admin_headers = {"Authorization": lab.admin.headers["Authorization"]}
    families = eventually(lambda: (f := scrape(f"{lab.api}/metrics", admin_headers))
                          and busy_sample(f, unit) and f,
                          "the job's GPU busy in the control plane's /metrics", timeout=5)
    assert set(NAMES) <= set(families)
    sample = busy_sample(families, unit)
    assert sample.labels["dllab_owner"] == "trainer"
    assert sample.labels["dllab_kind"] == "job"
    assert sample.labels["dllab_visible_gpu"] == "0"
    assert sample.labels["Hostname"] and sample.labels["UUID"].startswith("GPU-")
    eventually(lambda: busy_sample(scrape(lab.agent_metrics), unit),
               "the job's GPU busy in the agent's /metrics", timeout=5)

    # History: the job's GPU, by job id, busy within 5 s of the job burning.
    def busy_in_history() -> bool:
        history = trainer.get("/api/v1/metrics/gpus", params={"job": job_id, "step": 1}).json()
        return any(p["utilization_pct"] and p["utilization_pct"] >= 50
                   for s in history["series"] for p in s["points"])

    eventually(busy_in_history, "the job's GPU busy in the history", timeout=5)

    # The alert fires (webhook), then resolves once the job is cancelled.
    eventually(lambda: "firing" in webhooks.events(), "the firing webhook", timeout=30)
    alerts = trainer.get("/api/v1/alerts", params={"state": "firing"}).json()["data"]
    assert [a["rule"] for a in alerts] == ["busy-gpu"], alerts
    assert trainer.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 200
    eventually(lambda: "resolved" in webhooks.events(), "the resolved webhook", timeout=60)
    assert webhooks.events() == ["firing", "resolved"]
    assert webhooks.received[1]["alert"]["resolved_at"] is not None
    lab.admin.delete(f"/alerts/rules/{rule.json()['id']}")


def test_an_idle_environment_is_warned_then_reclaimed(lab: Lab):
    policy = lab.admin.put("/policies/idle-gpus", json={
        "enabled": True, "idle_seconds": 20, "warn_seconds": 10})
    assert policy.status_code == 200, policy.text
    alice = lab.add_user("alice")
    created = alice.post("/api/v1/environments", json={
        "name": "idle", "image": RUNTIME_IMAGE, "gpus": 1})
    assert created.status_code == 201, created.text
    env_id = created.json()["id"]
    lab.wait_state(alice, env_id, "running")

    def warned() -> dict[str, Any] | None:
        env = alice.get(f"/api/v1/environments/{env_id}").json()
        return env if env["idle_warning"] else None

    env = eventually(warned, "the idle warning", timeout=90)
    assert env["state"] == "running" and "will be stopped" in env["idle_warning"]
    stopped = lab.wait_state(alice, env_id, "stopped", timeout=60)
    assert "idle-GPU policy" in stopped["reason"] and stopped["idle_warning"] is None
    reclaims = alice.get("/api/v1/policies/idle-gpus/reclaims").json()
    assert [r["environment"] for r in reclaims["data"]] == [env_id]
    assert reclaims["data"][0]["gpus"] == 1
    eventually(lambda: alice.get("/api/v1/policies/idle-gpus/reclaims").json()[
        "gpu_hours_reclaimed"] > 0, "GPU-hours counted", timeout=10)
