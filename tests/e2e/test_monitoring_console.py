"""The console's GPU monitoring in a real browser against a live control plane (in process,
lifespan off: no agent and no loops, so readings are posted as a host's agent would post
them, and alert rules are judged by calling the alerts service as its loop would).

The cluster page's live grid shows each GPU's readings and holder and follows new ones; a
job's page charts the GPUs it held; the alerts page lists a firing alert, filters it, and
lets an admin add, edit, switch off and delete a rule and set the idle-GPU policy; a user
sees only the alerts and the policy; an environment warned by the policy says so on its
page and in the list."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from playwright.sync_api import Page, expect

from dllab.monitoring.rules import Pending
from dllab.services.alerts import evaluate

pytestmark = pytest.mark.browser

Login = Callable[..., None]
Shot = Callable[[Page, str], None]
Headers = dict[str, str]
IMAGE = {"name": "dllab/runtime", "tag": "tf-cpu", "framework": "tensorflow",
         "framework_version": "2.21.0"}


def gpu(index: int, util: int | None, *, temperature: int = 50, memory: int = 4096,
        holder: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"index": index, "uuid": f"GPU-00000000-0000-0000-0000-{index:012d}",
            "model": "DLLab Simulated GPU", "memory_total_mib": 16384,
            "memory_used_mib": memory, "utilization_pct": util, "temperature_c": temperature,
            "power_w": 120.5, "sm_clock_mhz": 1410, "ecc_uncorrected": 0, "xid_last": None,
            "simulated": True, "holder": holder}


def post_sample(live_server: str, host: Headers, gpus: list[dict[str, Any]]) -> None:
    answer = httpx.post(f"{live_server}/api/v1/agent/metrics", headers=host, timeout=10,
                        json={"taken_at": time.time(), "gpus": gpus})
    assert answer.status_code == 204, answer.text


@contextmanager
def reporting(live_server: str, host: Headers, gpus: list[dict[str, Any]]) -> Iterator[None]:
    """Post the sample now and then every second, as an agent does: the live grid shows only
    hosts heard from in the last 5 s, and logging in plus the checks can take longer."""
    post_sample(live_server, host, gpus)
    stop = threading.Event()

    def again() -> None:
        while not stop.wait(1):
            post_sample(live_server, host, gpus)

    thread = threading.Thread(target=again, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def test_cluster_grid_shows_live_readings_and_holders(
        page: Page, login: Login, live_server: str,
        agent_host: Callable[..., Headers], shot: Shot) -> None:
    host = agent_host("gpu-1", gpus=2)
    holder = {"unit": "u-train", "workload": "w-train", "kind": "job", "owner": "alice",
              "visible_index": 0}
    with reporting(live_server, host, [gpu(0, 87, temperature=91, holder=holder), gpu(1, 0)]):
        page.goto("/#/cluster")
        login(page)
        live = page.get_by_test_id("live-host").filter(
            has=page.get_by_role("heading", name="gpu-1"))
        busy = live.locator('[data-testid="gpu-live-cell"][data-gpu-index="0"]')
        expect(busy.get_by_test_id("gpu-util")).to_have_text("87%")
        expect(busy.get_by_test_id("gpu-live-holder")).to_have_text("alice · job · sees GPU 0")
        expect(busy.get_by_test_id("gpu-memory")).to_have_text("4.0 / 16.0 GiB")
        expect(busy.get_by_test_id("gpu-temperature")).to_have_text("⚠ 91 °C")
        expect(busy).to_have_attribute("data-hot", "true")
        expect(busy).to_have_attribute("data-level", "high")
        idle = live.locator('[data-testid="gpu-live-cell"][data-gpu-index="1"]')
        expect(idle.get_by_test_id("gpu-live-holder")).to_have_text("free")
        expect(idle).to_have_attribute("data-level", "idle")
        expect(idle).to_have_attribute("data-hot", "false")
        expect(page.get_by_test_id("live-summary")).to_contain_text(
            "2 GPUs reporting · 44% busy")
        # The allocation grid below is still there (the host registered its GPUs).
        expect(page.get_by_test_id("gpu-cell")).to_have_count(2)
        shot(page, "cluster-live")

    # A new sample: the grid follows within its 2 s refresh, no reload.
    with reporting(live_server, host, [gpu(0, 12, temperature=60, holder=holder), gpu(1, 55)]):
        expect(busy.get_by_test_id("gpu-util")).to_have_text("12%")
        expect(busy).to_have_attribute("data-hot", "false")
        expect(busy.get_by_test_id("gpu-temperature")).to_have_text("60 °C")
        expect(idle).to_have_attribute("data-level", "mid")


def test_a_jobs_page_charts_the_gpus_it_held(
        page: Page, login: Login, live_server: str, admin_api: httpx.Client,
        agent_host: Callable[..., Headers], shot: Shot) -> None:
    host = agent_host("gpu-1", gpus=2, runtime="docker")
    assert admin_api.post("/images", json=IMAGE).status_code == 201
    created = admin_api.post("/jobs", json={
        "name": "train", "image": "dllab/runtime:tf-cpu", "command": ["python", "train.py"],
        "strategy": "multi_worker_mirrored", "replicas": {"chief": {"count": 1, "gpus": 1}}})
    assert created.status_code == 201, created.text
    job = created.json()
    replica = job["replicas"][0]
    assert replica["gpus"], job
    unit = admin_api.get(f"/units/{replica['unit']}").json()
    held = replica["gpus"][0]
    holder = {"unit": unit["id"], "workload": unit["workload"], "kind": "job",
              "owner": "admin", "visible_index": held["visible_index"]}
    other = 1 - held["index"]
    for util in (30, 60, 90):
        post_sample(live_server, host, [gpu(held["index"], util, holder=holder),
                                        gpu(other, 0)])

    page.goto(f"/#/jobs/{job['id']}")
    login(page)
    card = page.get_by_test_id("job-gpu-charts")
    # Only the GPU the job held: one line, named by its physical index.
    for chart in ("gpu-chart-util", "gpu-chart-memory", "gpu-chart-temperature",
                  "gpu-chart-power"):
        expect(card.get_by_test_id(chart)).to_be_visible()
    legend = card.get_by_test_id("gpu-chart-util-series")
    expect(legend).to_have_count(1)
    expect(legend).to_contain_text(f"GPU {held['index']}")
    expect(card.get_by_test_id("gpu-chart-util").locator("path.chart-line")).to_have_count(1)
    expect(card.get_by_test_id("gpu-chart-memory-series")).to_contain_text("4096 MiB")
    shot(page, "job-gpus")
    # Another range: still charted.
    page.get_by_test_id("gpu-range").select_option("24h")
    expect(card.get_by_test_id("gpu-chart-util")).to_be_visible()
    expect(card.get_by_test_id("gpu-chart-util-series")).to_contain_text(f"GPU {held['index']}")


def test_alerts_rules_and_the_idle_gpu_policy(
        page: Page, login: Login, live_server: str, app: FastAPI, admin_api: httpx.Client,
        agent_host: Callable[..., Headers], make_user: Callable[..., Headers],
        shot: Shot) -> None:
    host = agent_host("gpu-1", gpus=1)
    rule = admin_api.post("/alerts/rules", json={
        "name": "warm-gpu", "metric": "temperature_c", "op": ">", "threshold": 80,
        "duration_seconds": 0, "severity": "critical"})
    assert rule.status_code == 201, rule.text
    post_sample(live_server, host, [gpu(0, 50, temperature=88)])
    # What the alerts loop does every second (the live server runs without its lifespan).
    context = app.state.context
    with context.sessions() as session:
        judged = evaluate(session, context.settings, context.gpus, Pending())
    assert [a.host for a in judged.fired] == ["gpu-1"]

    page.goto("/#/alerts")
    login(page)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Alerts")).to_have_attribute("aria-current", "page")
    row = page.get_by_test_id("alert-row").filter(has_text="warm-gpu")
    expect(row.get_by_test_id("alert-state")).to_have_text("firing")
    expect(row).to_contain_text("gpu-1 · GPU 0")
    expect(row).to_contain_text("88 °C")
    expect(row).to_contain_text("critical")
    page.get_by_label("Show").select_option("resolved")
    expect(page.get_by_test_id("alert-row")).to_have_count(0)
    expect(page.get_by_text("No alerts")).to_be_visible()
    page.get_by_label("Show").select_option("firing")
    expect(page.get_by_test_id("alert-row")).to_have_count(1)

    # The rules: the defaults and ours; an admin adds one with the form.
    rules = page.get_by_test_id("rule-row")
    expect(rules.filter(has_text="warm-gpu").get_by_test_id("rule-condition")).to_have_text(
        "temperature > 80 °C (at once)")
    expect(rules.filter(has_text="gpu-hot")).to_have_count(1)
    form = page.get_by_role("form", name="Alert rule")
    form.get_by_label("Name").fill("slow-clock")
    form.get_by_label("Metric").select_option("sm_clock_mhz")
    form.get_by_label("When").select_option("<")
    form.get_by_label("Threshold").fill("500")
    form.get_by_label("For (seconds)").fill("120")
    form.get_by_label("Severity").select_option("info")
    form.get_by_label("Only GPUs held by a workload").check()
    form.get_by_role("button", name="Add rule").click()
    expect(form.get_by_role("status")).to_have_text("Rule slow-clock added.")
    added = rules.filter(has_text="slow-clock")
    expect(added.get_by_test_id("rule-condition")).to_have_text("SM clock < 500 MHz for 2 min")
    expect(added).to_contain_text("held GPUs only")
    # The API's refusal is shown in the form.
    form.get_by_label("Name").fill("slow-clock")
    form.get_by_label("Threshold").fill("1")
    form.get_by_role("button", name="Add rule").click()
    expect(form.get_by_role("alert")).to_be_visible()
    # Edit it, switch it off, delete it.
    page.get_by_role("button", name="Edit rule slow-clock").click()
    expect(form.get_by_label("Name")).to_have_value("slow-clock")
    form.get_by_label("Threshold").fill("400")
    form.get_by_role("button", name="Save rule").click()
    expect(added.get_by_test_id("rule-condition")).to_have_text("SM clock < 400 MHz for 2 min")
    page.get_by_label("Rule slow-clock enabled").uncheck()
    deadline = time.monotonic() + 10
    while admin_api.get(f"/alerts/rules/{_rule_id(admin_api, 'slow-clock')}").json()["enabled"]:
        assert time.monotonic() < deadline, "the switch did not disable the rule"
        time.sleep(0.1)
    page.get_by_role("button", name="Delete rule slow-clock").click()
    page.get_by_role("button", name="Delete rule", exact=True).click()
    expect(rules.filter(has_text="slow-clock")).to_have_count(0)
    shot(page, "alerts")

    # The idle-GPU policy: saved, and read back after a reload.
    policy = page.get_by_role("form", name="Idle GPU policy")
    expect(page.get_by_test_id("gpu-hours-reclaimed")).to_have_text("0.00")
    expect(page.get_by_text("No environment stopped yet")).to_be_visible()
    policy.get_by_label("Stop environments whose GPUs stay idle").check()
    policy.get_by_label("Idle for (minutes)").fill("30")
    policy.get_by_label("Warn before (minutes)").fill("5")
    policy.get_by_role("button", name="Save policy").click()
    expect(policy.get_by_role("status")).to_have_text("Policy saved.")
    assert admin_api.get("/policies/idle-gpus").json() == {
        "enabled": True, "idle_seconds": 1800, "warn_seconds": 300}
    page.reload()
    expect(policy.get_by_label("Idle for (minutes)")).to_have_value("30")
    expect(policy.get_by_label("Stop environments whose GPUs stay idle")).to_be_checked()

    # A user: no rules, the policy in words, and no alert of GPUs her workloads never held.
    make_user("bea")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"#/login$"))
    page.goto("/#/alerts")
    expect(page).to_have_url(re.compile(r"#/login\?next=%2Falerts$"))
    login(page, "bea", "bea-password")
    expect(page.get_by_role("heading", level=1)).to_have_text("Alerts")
    expect(page.get_by_text("No alerts")).to_be_visible()
    expect(page.get_by_test_id("rule-row")).to_have_count(0)
    expect(page.get_by_role("heading", name="Rules")).to_have_count(0)
    expect(page.get_by_test_id("idle-policy")).to_contain_text(
        "On: an environment whose GPUs all stay under 5% utilization for 30 min is stopped")


def _rule_id(api: httpx.Client, name: str) -> int:
    rules = api.get("/alerts/rules").json()["data"]
    return int(next(r["id"] for r in rules if r["name"] == name))


def stamp(seconds_ago: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds_ago))


def gpu_history(*indices: int) -> dict[str, Any]:
    """GET metrics/gpus's answer: the last minute of the GPUs `indices` of gpu-1, each busy
    its index in %, with neither temperature nor power read."""
    return {"from": stamp(900), "to": stamp(0), "step": 3, "series": [
        {"host": "gpu-1", "gpu": index, "points": [
            {"at": stamp(60 - 3 * i), "utilization_pct": 1.0 * index, "memory_used_mib": 100,
             "memory_total_mib": 16384, "temperature_c": None, "power_w": None,
             "sm_clock_mhz": None} for i in range(10)]} for index in indices]}


def answer_with(page: Page, answers: dict[str, Any]) -> None:
    """Have the API paths in `answers` ("/api/v1/...", any query) answer their JSON."""
    def fulfil(route: Any) -> None:
        path = "/" + route.request.url.split("://", 1)[1].split("/", 1)[1].split("?", 1)[0]
        route.fulfill(status=200, content_type="application/json",
                      body=json.dumps(answers[path]))

    page.route(lambda url: url.split("://", 1)[1].split("?", 1)[0].split("/", 1)[1]
               in {path.lstrip("/") for path in answers}, fulfil)


def test_an_environment_warned_for_idle_gpus_says_so(page: Page, login: Login,
                                                     shot: Shot) -> None:
    """The environment is made up (no JupyterHub here); so are its GPUs' readings, two
    GPUs' worth, to see one line each."""
    env_id = "e" * 32
    warning = "Its GPUs have been idle for 55 min: it will be stopped in 5 min."
    env = {
        "id": env_id, "name": "notebook", "owner": "admin", "image": "dllab/runtime:tf-cpu",
        "gpus": 2, "cpus": None, "memory_mib": None, "ssh_key_count": 0, "state": "running",
        "reason": None, "position": None, "host": "gpu-1", "unit": None, "phases": [],
        "urls": None, "ssh": None, "created_at": stamp(3600), "volumes": [],
        "devices": [{"index": 2, "visible_index": 0, "uuid": "GPU-2", "simulated": True},
                    {"index": 3, "visible_index": 1, "uuid": "GPU-3", "simulated": True}],
        "idle_warning": warning,
    }
    answer_with(page, {f"/api/v1/environments/{env_id}": env,
                       "/api/v1/metrics/gpus": gpu_history(2, 3),
                       "/api/v1/environments": {"data": [env], "count": 1}})
    page.goto(f"/#/environments/{env_id}")
    login(page)
    expect(page.get_by_test_id("idle-warning")).to_have_text(warning)
    card = page.get_by_test_id("env-gpu-charts")
    series = card.get_by_test_id("gpu-chart-util-series")
    expect(series).to_have_count(2)
    expect(series.nth(0)).to_contain_text("GPU 2")
    expect(series.nth(0)).to_contain_text("2%")
    expect(series.nth(1)).to_contain_text("GPU 3")
    expect(card.get_by_test_id("gpu-chart-util").locator("path.chart-line")).to_have_count(2)
    # No temperature or power read: no chart of them.
    expect(card.get_by_test_id("gpu-chart-temperature")).to_have_count(0)
    shot(page, "environment-idle")
    page.goto("/#/environments")
    expect(page.get_by_test_id("environment-idle-warning")).to_have_text(warning)
    shot(page, "environments-idle")


def test_a_services_page_charts_its_replicas_gpus(page: Page, login: Login) -> None:
    """A made-up service with a GPU a replica; its replicas' readings are made up too."""
    service_id = "5" * 32
    service = {
        "id": service_id, "name": "digits", "owner": "admin", "model": "digits",
        "model_id": "6" * 32, "status": "serving", "reason": None,
        "url": "http://127.0.0.1/serving/digits/v1/models/digits",
        "tracks": [{"name": "stable", "version": 1, "weight": 100, "replicas": 1}],
        "replicas": [{"id": "7" * 32, "unit": "8" * 32, "track": "stable", "version": 1,
                      "state": "ready", "host": "gpu-1", "address": "127.0.0.1:9000",
                      "gpus": [{"index": 1, "visible_index": 0, "simulated": True}],
                      "error": None, "created_at": stamp(600), "ready_at": stamp(590)}],
        "token_required": False, "created_at": stamp(600),
        "spec": {"gpus_per_replica": 1, "replicas": 1, "autoscale": None, "label": None},
    }
    answer_with(page, {f"/api/v1/services/{service_id}": service,
                       f"/api/v1/services/{service_id}/metrics": {"points": []},
                       "/api/v1/metrics/gpus": gpu_history(1)})
    page.goto(f"/#/services/{service_id}")
    login(page)
    card = page.get_by_test_id("service-gpu-charts")
    expect(card.get_by_test_id("gpu-chart-util-series")).to_contain_text("GPU 1")
    expect(card.get_by_test_id("gpu-chart-memory")).to_be_visible()
