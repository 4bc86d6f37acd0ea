"""Training jobs for real: ``dllab up`` (docker runtime, runtime image, 4 simulated GPUs)
plus a second agent (``dllab agent``, 2 simulated GPUs), running the examples in
``examples/`` on TensorFlow: a multi-worker-mirrored job spread over both hosts reaches 90%
on the digits; a parameter-server job succeeds and its ps is stopped; a worker killed
mid-training restarts the gang from its checkpoint; cancel frees every GPU and container;
an agent that dies mid-job leaves no GPU allocated."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from job_client import JobClient

from lab_fixture import (
    Lab,
    containers_labelled,
    eventually,
    remove_agent_containers,
    running_lab,
)

MWMS = {"name": "digits-mwms", "image": "dllab/runtime:tf-cpu",
        "command": ["python", "digits_mwms.py"], "strategy": "multi_worker_mirrored",
        # 2 GPUs each: 6 in all, more than either host has, so the gang spans both.
        "replicas": {"chief": {"count": 1, "gpus": 2}, "worker": {"count": 2, "gpus": 2}},
        "env": {"STEPS": "600"}, "checkpoint": {"every_steps": 100}, "max_restarts": 2}
PS = {**MWMS, "name": "digits-ps", "command": ["python", "digits_ps.py"],
      "strategy": "parameter_server",
      "replicas": {"chief": {"count": 1}, "worker": {"count": 2, "gpus": 2},
                   "ps": {"count": 1}}}


@dataclass
class JobsLab(JobClient):
    lab: Lab
    second_agent: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def jobs_lab(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobsLab]:
    folder = tmp_path_factory.mktemp("jobs-lab")
    # Exits and dead hosts are seen within seconds; yet an agent starved of CPU by three
    # training replicas for a few seconds is not taken for dead.
    with running_lab(docker_client, folder, HEARTBEAT_SECONDS="1", HOST_OFFLINE_SECONDS="5",
                     HOST_DEAD_SECONDS="15", SCHEDULER_SECONDS="1") as lab:
        token = lab.admin.post("/hosts", json={"name": "gpu-2"}).json()["token"]
        state = folder / "gpu-2"
        env = {**os.environ, "DLLAB_HOST_TOKEN": token,
               "DLLAB_VOLUME_ROOTS": str(lab.home / "artifacts")}
        with (folder / "gpu-2.log").open("wb") as log:
            second = subprocess.Popen(
                [sys.executable, "-m", "dllab.cli", "agent", "--server", lab.api, "--runtime",
                 "docker", "--simulate-gpus", "2", "--state-dir", str(state), "--address",
                 "127.0.0.1", "--workspace-root", str(folder / "gpu-2-workspaces")],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            eventually(lambda: any(h["name"] == "gpu-2" and h["status"] == "online"
                                   for h in lab.admin.get("/hosts").json()["data"]),
                       "the second agent online", timeout=60)
            examples = JobClient.upload_examples(lab.add_user("trainer"))
            yield JobsLab(examples.user, examples.code, lab, second)
        finally:
            if second.poll() is None:
                os.killpg(second.pid, signal.SIGINT)
                second.wait(30)
            remove_agent_containers(docker_client, state / "agent-id")


def no_containers(docker_client: Any, job: dict[str, Any]) -> bool:
    units = {r["unit"] for r in job["replicas"]}
    return not [c for c in containers_labelled(docker_client, "dllab.kind=job")
                if c.labels.get("dllab.unit") in units]


def allocated_gpus(lab: Lab) -> int:
    hosts = lab.admin.get("/cluster").json()["hosts"]
    return sum(1 for h in hosts for g in h["gpus"] if g["held_by"])


def test_multi_worker_mirrored_job_spans_hosts_and_reaches_90_percent(jobs_lab, docker_client):
    job = jobs_lab.submit(MWMS)
    job = jobs_lab.wait(job["id"], "succeeded")
    hosts = {r["host"] for r in job["replicas"]}
    assert len(hosts) == 2 and "gpu-2" in hosts, job
    for replica in job["replicas"]:
        assert [g["visible_index"] for g in replica["gpus"]] == [0, 1]
        log = jobs_lab.log(job["id"], replica["name"])
        assert re.search(r"^\S+ training 600 steps on 3 replicas", log, re.MULTILINE), log
        assert f"'type': '{replica['role']}', 'index': {replica['index']}" in log
    chief_log = jobs_lab.log(job["id"], "chief-0")
    accuracy = float(re.search(r"test accuracy (\d\.\d+)", chief_log).group(1))
    assert accuracy >= 0.90, chief_log
    artifacts = Path(job["artifacts"])
    assert json.loads((artifacts / "output" / "metrics.json").read_text())["steps"] == 600
    assert (artifacts / "output" / "model" / "saved_model.pb").exists()
    assert list((artifacts / "logs").glob("events.out.tfevents.*"))
    assert (artifacts / "checkpoints" / "checkpoint").exists()
    series = jobs_lab.user.get(f"/api/v1/jobs/{job['id']}/scalars").json()["series"]
    assert series["loss"][-1][0] == 600 and series["accuracy"][-1][0] == 600
    assert series["accuracy"][-1][1] == pytest.approx(accuracy, abs=1e-4)
    assert job["restarts"] == 0 and job["finished_at"]
    eventually(lambda: no_containers(docker_client, job), "the replicas' containers gone", 30)


def test_a_finished_jobs_tensorboard_opens_behind_the_login(jobs_lab):
    [job] = [j for j in jobs_lab.user.get("/api/v1/jobs").json()["data"]
             if j["name"] == "digits-mwms"]
    path = f"/api/v1/jobs/{job['id']}/tensorboard"
    assert jobs_lab.user.get(path).json()["state"] == "stopped"
    assert jobs_lab.user.post(path).json()["state"] in ("starting", "running")
    board = eventually(lambda: (s := jobs_lab.user.get(path).json())["state"] == "running"
                       and s, "TensorBoard running", timeout=120)
    url = board["url"]
    assert url == f"{jobs_lab.lab.edge}/tensorboard/jobs/{job['id']}/"
    runs = eventually(lambda: (r := jobs_lab.user.get(f"{url}data/runs")).status_code == 200
                      and r.json(), "TensorBoard routed and its runs listed", timeout=60)
    assert "." in runs, runs
    assert "TensorBoard" in jobs_lab.user.get(url).text
    with httpx.Client() as anonymous:
        assert anonymous.get(f"{url}data/runs").status_code == 401
    other = jobs_lab.lab.add_user("onlooker")
    assert other.get(f"{url}data/runs").status_code == 404
    assert jobs_lab.user.delete(path).json()["state"] in ("stopping", "stopped")
    eventually(lambda: jobs_lab.user.get(f"{url}data/runs").status_code == 404,
               "the route gone", timeout=10)


def test_parameter_server_job_succeeds_and_its_ps_is_gone(jobs_lab, docker_client):
    job = jobs_lab.submit(PS)
    job = jobs_lab.wait(job["id"], "succeeded")
    chief_log = jobs_lab.log(job["id"], "chief-0")
    assert "test accuracy" in chief_log, chief_log
    by_name = {r["name"]: r for r in job["replicas"]}
    assert "ps 0 serving" in jobs_lab.log(job["id"], "ps-0")
    assert "worker 1 serving" in jobs_lab.log(job["id"], "worker-1")

    def ps_stopped() -> bool:
        return jobs_lab.get(job["id"])["replicas"][3]["state"] == "stopped"

    eventually(ps_stopped, "the parameter server stopped", 30)
    assert by_name["ps-0"]["tf_config"]["task"] == {"type": "ps", "index": 0}
    eventually(lambda: no_containers(docker_client, job), "the replicas' containers gone", 30)


def test_a_killed_worker_restarts_the_job_from_its_checkpoint(jobs_lab, docker_client):
    job = jobs_lab.submit({**MWMS, "name": "chaos", "env": {"STEPS": "1200"}})
    eventually(lambda: "checkpoint saved at step 200" in jobs_lab.log(job["id"], "chief-0"),
               "a checkpoint at step 200", 240)
    worker = jobs_lab.get(job["id"])["replicas"][2]
    [container] = docker_client.containers.list(filters={"label": f"dllab.unit={worker['unit']}"})
    container.kill()
    job = jobs_lab.wait(job["id"], "succeeded", timeout=400)
    assert job["restarts"] == 1 and job["attempt"] == 2
    [restart] = job["restart_history"]
    assert restart["resumed_from_step"] >= 200
    assert "worker-1" in restart["reason"], restart
    resumed = jobs_lab.log(job["id"], "chief-0")
    step = int(re.search(r"resumed from step (\d+)", resumed).group(1))
    assert step == restart["resumed_from_step"] > 0
    assert "starting from step 0" in jobs_lab.log(job["id"], "chief-0", attempt=1)
    assert "test accuracy" in resumed


def test_cancel_frees_every_gpu_within_10_s_and_leaves_no_container(jobs_lab, docker_client):
    job = jobs_lab.submit({**MWMS, "name": "cancelled", "env": {"STEPS": "100000"}})
    jobs_lab.wait(job["id"], "running", timeout=120)
    assert allocated_gpus(jobs_lab.lab) == 6
    cancelled = jobs_lab.user.post(f"/api/v1/jobs/{job['id']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    eventually(lambda: allocated_gpus(jobs_lab.lab) == 0, "every GPU free", timeout=10)
    eventually(lambda: no_containers(docker_client, job), "no container left", timeout=10)
    job = jobs_lab.get(job["id"])
    assert {r["state"] for r in job["replicas"]} == {"stopped"}


def test_an_agent_that_dies_mid_job_leaves_no_gpu_allocated(jobs_lab):
    job = jobs_lab.submit({**MWMS, "name": "orphaned", "env": {"STEPS": "100000"},
                           "max_restarts": 1})
    jobs_lab.wait(job["id"], "running", timeout=120)
    os.killpg(jobs_lab.second_agent.pid, signal.SIGKILL)  # the host goes silent
    jobs_lab.second_agent.wait()
    # Declared dead: its replica is lost, the gang restarts, and the new attempt waits,
    # as 6 GPUs no longer exist; the surviving host's replicas are stopped meanwhile.
    job = jobs_lab.wait(job["id"], "restarting", timeout=60)
    assert "declared dead" in job["restart_history"][0]["reason"], job
    eventually(lambda: allocated_gpus(jobs_lab.lab) == 0, "no GPU allocated", timeout=30)
    job = jobs_lab.user.post(f"/api/v1/jobs/{job['id']}/cancel").json()
    assert job["status"] == "cancelled"
