"""GPU readings through the API: agents' samples in, ``/metrics/gpus/now``, history with
its filters and limits, the control plane's Prometheus ``/metrics``, compaction, and the
idle-GPU policy's settings."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete, select

from dllab.db.models import GpuReading, Host
from dllab.services import gpu_metrics


def gpu(index: int, util: int, holder: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"index": index, "uuid": f"GPU-00000000-0000-0000-0000-{index:012d}",
            "model": "DLLab Simulated GPU", "memory_total_mib": 16384,
            "memory_used_mib": 300 + 10 * util, "utilization_pct": util,
            "temperature_c": 40, "power_w": 50.5, "sm_clock_mhz": 1200, "ecc_uncorrected": 0,
            "simulated": True, "holder": holder}


def post_sample(api, agent, gpus: list[dict[str, Any]]) -> None:
    answer = api.post("/api/v1/agent/metrics", headers=agent.headers,
                      json={"taken_at": time.time(), "gpus": gpus})
    assert answer.status_code == 204, answer.text


def held_unit(client, agent, headers, run_unit) -> dict[str, Any]:
    """A unit placed on the agent's GPU 0, and the holder label its agent would send."""
    unit = run_unit(headers, gpus=1)
    assert unit["host"] == agent.name
    return unit


def test_samples_show_now_in_history_and_in_prometheus_with_dcgm_names(
        client, api, admin, agent, make_user, run_unit):
    host = agent("gpu-1", gpus=2)
    alice = make_user("alice")
    unit = held_unit(client, host, alice, run_unit)
    holder = {"unit": unit["id"], "workload": unit["workload"], "kind": "unit",
              "owner": "alice", "visible_index": 0}
    physical = unit["gpus"][0]["index"]
    post_sample(api, host, [gpu(physical, 80, holder), gpu(1 - physical, 0)])

    now = client.get("/api/v1/metrics/gpus/now", headers=alice).json()
    [reported] = now["hosts"]
    assert reported["host"] == "gpu-1"
    assert {g["index"]: g["utilization_pct"] for g in reported["gpus"]} == {
        physical: 80, 1 - physical: 0}

    history = client.get("/api/v1/metrics/gpus", headers=alice,
                         params={"workload": unit["workload"], "step": 1}).json()
    [series] = history["series"]
    assert (series["host"], series["gpu"]) == ("gpu-1", physical)
    assert series["points"][-1]["utilization_pct"] == 80

    scraped = client.get("/metrics", headers=admin)
    assert scraped.status_code == 200
    families = {f.name: f.samples for f in text_string_to_metric_families(scraped.text)}
    for name in ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE",
                 "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_SM_CLOCK",
                 "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL"):
        assert len(families[name]) == 2, name
    busy = next(s for s in families["DCGM_FI_DEV_GPU_UTIL"] if s.value == 80)
    assert busy.labels["gpu"] == str(physical) and busy.labels["Hostname"] == "gpu-1"
    assert busy.labels["dllab_owner"] == "alice" and busy.labels["dllab_unit"] == unit["id"]
    assert busy.labels["dllab_visible_gpu"] == "0"
    assert families["DCGM_FI_DEV_XID_ERRORS"] == []  # no GPU reported one: no series


def test_prometheus_metrics_need_an_admin(client, make_user):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=make_user("bob")).status_code == 403


def test_a_workload_of_someone_else_is_not_found(client, agent, make_user, run_unit):
    agent("gpu-1", gpus=1)
    alice, bob = make_user("alice"), make_user("bob")
    unit = run_unit(alice, gpus=1)
    answer = client.get("/api/v1/metrics/gpus", headers=bob,
                        params={"workload": unit["workload"]})
    assert answer.status_code == 404
    for kind in ("environment", "job", "service"):
        answer = client.get("/api/v1/metrics/gpus", headers=bob, params={kind: "0" * 32})
        assert answer.status_code == 404, (kind, answer.text)


def test_bad_ranges_are_refused_with_what_is_wrong(api, admin):
    now = datetime.now(UTC)

    def ask(**params: Any) -> tuple[int, str]:
        answer = api.get("/api/v1/metrics/gpus", headers=admin, params=params)
        return answer.status_code, answer.text

    code, text = ask(**{"from": now.isoformat(), "to": (now - timedelta(hours=1)).isoformat()})
    assert code == 400 and "from must be before to" in text
    code, text = ask(**{"from": (now - timedelta(days=40)).isoformat(), "to": now.isoformat()})
    assert code == 400 and "days" in text
    code, text = ask(**{"from": (now - timedelta(days=2)).isoformat(), "to": now.isoformat(),
                        "step": 1})
    assert code == 400 and "step of at least" in text
    assert ask(step=0)[0] == 422
    assert ask(gpu=-1)[0] == 422
    assert ask(workload="not-an-id")[0] == 422
    assert ask(**{"from": "yesterday"})[0] == 422
    code, text = ask(**{"from": "2026-11-27T10:00:00", "to": "2026-11-27T11:00:00"})
    assert code == 400 and "time zone" in text
    code, text = ask(host="nowhere")
    assert code == 404 and "no host nowhere" in text


def keep(db, host: str, *readings: tuple[int, datetime, int, float | None]) -> None:
    """Rows as agents' samples (step 1) and compaction (step 60) leave them:
    (gpu, at, step, utilization)."""
    with db() as session:
        host_id = session.scalar(select(Host.id).where(Host.name == host))
        session.add_all(GpuReading(
            host_id=host_id, gpu=index, at=at, step=step, utilization_pct=util,
            memory_used_mib=None if util is None else 100 * util, memory_total_mib=16384,
            temperature_c=40.0) for index, at, step, util in readings)
        session.commit()


def test_history_averages_each_step_weighting_minute_averages_by_their_seconds(
        client, agent, admin, db):
    agent("gpu-1", gpus=2)
    base = (datetime.now(UTC) - timedelta(minutes=30)).replace(second=0, microsecond=0)
    keep(db, "gpu-1",
         (0, base, 1, 10.0), (0, base + timedelta(seconds=1), 1, 30.0),
         (0, base + timedelta(seconds=2, microseconds=999_999), 1, 50.0),
         (0, base + timedelta(seconds=3), 1, None), (0, base + timedelta(seconds=4), 1, 40.0),
         (0, base + timedelta(seconds=6), 1, None),
         (1, base, 60, 20.0), (1, base + timedelta(seconds=30), 1, 81.0),
         (0, base + timedelta(seconds=60), 1, 99.0))  # at `to`: outside

    def points(**params: Any) -> list[dict[str, Any]]:
        answer = client.get("/api/v1/metrics/gpus", headers=admin, params={
            "from": base.isoformat(), "to": (base + timedelta(seconds=60)).isoformat(),
            **params})
        assert answer.status_code == 200, answer.text
        [series] = answer.json()["series"]
        return series["points"]

    def at(seconds: int) -> str:
        return (base + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")

    fine = points(gpu=0, step=3)
    assert [(p["at"], p["utilization_pct"], p["memory_used_mib"]) for p in fine] == [
        (at(0), 30.0, 3000.0), (at(3), 40.0, 4000.0), (at(6), None, None)]
    assert {(p["memory_total_mib"], p["temperature_c"]) for p in fine} == {(16384, 40.0)}
    # A minute average is 60 readings: (20 × 60 + 81 × 1) / 61.
    [minute] = points(gpu=1, step=60)
    assert (minute["at"], minute["utilization_pct"]) == (at(0), 21.0)


def test_compaction_averages_old_readings_into_minutes(client, api, agent, settings, db):
    host = agent("gpu-1", gpus=1)
    post_sample(api, host, [gpu(0, 20)])
    post_sample(api, host, [gpu(0, 60)])
    later = datetime.now(UTC) + timedelta(hours=settings.gpu_history_fine_hours, minutes=2)
    with db() as session:
        assert gpu_metrics.compact(session, settings, now=later) == 2
        rows = session.scalars(select(GpuReading)).all()
        assert [(r.step, r.utilization_pct) for r in rows] == [(60, 40.0)]
        session.execute(delete(GpuReading))
        session.commit()
    minute = later.replace(second=0, microsecond=0) - timedelta(
        hours=settings.gpu_history_fine_hours, minutes=5)
    keep(db, "gpu-1", (0, minute + timedelta(microseconds=500_000), 1, 10.0),
         (0, minute + timedelta(seconds=59, microseconds=999_999), 1, 30.0),
         (0, minute + timedelta(seconds=60), 1, None))
    with db() as session:
        assert gpu_metrics.compact(session, settings, now=later) == 3
        rows = session.scalars(select(GpuReading).order_by(GpuReading.at)).all()
        assert [(r.at, r.step, r.utilization_pct) for r in rows] == [
            (minute, 60, 20.0), (minute + timedelta(minutes=1), 60, None)]
        far = later + timedelta(days=settings.gpu_history_days + 1)
        gpu_metrics.compact(session, settings, now=far)
        assert session.scalars(select(GpuReading)).all() == []


def test_the_idle_gpu_policy_is_an_admins_to_change(client, api, admin, make_user):
    bob = make_user("bob")
    assert client.get("/api/v1/policies/idle-gpus", headers=bob).json() == {
        "enabled": False, "idle_seconds": 3600, "warn_seconds": 600}
    body = {"enabled": True, "idle_seconds": 1800, "warn_seconds": 300}
    assert api.put("/api/v1/policies/idle-gpus", headers=bob, json=body).status_code == 403
    assert api.put("/api/v1/policies/idle-gpus", headers=admin, json=body).json() == body
    assert client.get("/api/v1/policies/idle-gpus", headers=bob).json() == body
    late = api.put("/api/v1/policies/idle-gpus", headers=admin,
                   json={**body, "warn_seconds": 1800})
    assert late.status_code == 400 and "warning comes first" in late.text
    assert api.put("/api/v1/policies/idle-gpus", headers=admin,
                   json={**body, "idle_seconds": -1}).status_code == 422
    reclaims = client.get("/api/v1/policies/idle-gpus/reclaims", headers=bob).json()
    assert reclaims == {"data": [], "count": 0, "gpu_hours_reclaimed": 0.0}


def test_the_cli_shows_each_gpus_readings_and_holder(dllab, live_server, admin_password, api,
                                                     agent):
    dllab("login", "--server", live_server, "--username", "admin", "--password", admin_password)
    assert "No GPU readings" in dllab("gpus")
    host = agent("gpu-1", gpus=2)
    post_sample(api, host, [gpu(0, 75, {"unit": "u" * 32, "workload": None, "kind": "job",
                                        "owner": "erin", "visible_index": 0}), gpu(1, 0)])
    out = dllab("gpus")
    assert "75%" in out and "1050/16384 MiB" in out and "erin/job (sees GPU 0)" in out
    assert "free" in out and "40 C" in out
