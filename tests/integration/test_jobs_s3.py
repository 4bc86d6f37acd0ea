"""Jobs with the S3 artifact store, against a real S3 server (rclone serve s3): ``dllab up``
with DLLAB_ARTIFACT_S3_URL, a multi-worker job on the examples. Its code comes from S3,
its checkpoints, TensorBoard logs and SavedModel go there as it runs; a worker killed
mid-training restarts the gang from the newest checkpoint in S3; the job page's scalars
and its TensorBoard read the logs from S3; its SavedModel, registered as a model version,
is kept in S3 and served from there."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from job_client import JobClient

from lab_fixture import Lab, eventually, running_lab

BUCKET, PREFIX = "artifacts", "dllab"


@pytest.fixture(scope="module")
def s3_lab(docker_client: Any, s3_server: dict[str, str],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    (Path(s3_server["data"]) / BUCKET).mkdir()
    # The docker bridge's gateway: this host and the containers both reach the server there.
    gateway = docker_client.networks.get("bridge").attrs["IPAM"]["Config"][0]["Gateway"]
    with running_lab(docker_client, tmp_path_factory.mktemp("s3-lab"), HEARTBEAT_SECONDS="1",
                     ARTIFACT_S3_URL=f"s3://{BUCKET}/{PREFIX}",
                     ARTIFACT_S3_ENDPOINT=f"http://{gateway}:{s3_server['port']}",
                     ARTIFACT_S3_ACCESS_KEY="AKTEST", ARTIFACT_S3_SECRET_KEY="SKTEST") as lab:
        yield lab


def test_a_job_keeps_its_artifacts_in_s3_resumes_from_them_and_its_model_is_served(s3_lab: Lab,
                                                                s3_server: dict[str, str],
                                                                docker_client: Any) -> None:
    client = JobClient.upload_examples(s3_lab.add_user("s3-trainer"))
    job = client.submit({
        "name": "s3-digits", "image": "dllab/runtime:tf-cpu",
        "command": ["python", "digits_mwms.py"], "strategy": "multi_worker_mirrored",
        "replicas": {"chief": {"count": 1}, "worker": {"count": 2}},
        "env": {"STEPS": "800", "DLLAB_ARTIFACTS_EVERY": "2"},
        "checkpoint": {"every_steps": 100}, "max_restarts": 1})
    assert job["artifacts"] == f"s3://{BUCKET}/{PREFIX}/jobs/{job['id']}/"
    stored = Path(s3_server["data"]) / BUCKET / PREFIX / "jobs" / job["id"]
    index = stored / "checkpoints" / "checkpoint"

    def checkpoint_in_s3() -> bool:
        client.wait(job["id"], "running", "starting", "queued", timeout=1)  # not ended
        found = index.exists() and re.search(r'model_checkpoint_path: "ckpt-(\d+)"',
                                             index.read_text())
        return bool(found) and int(found.group(1)) >= 200

    eventually(checkpoint_in_s3, "a checkpoint at step 200 or later in S3", timeout=240)
    assert "code from s3://" in client.log(job["id"], "chief-0")
    worker = client.get(job["id"])["replicas"][1]
    [container] = docker_client.containers.list(filters={"label": f"dllab.unit={worker['unit']}"})
    assert not [m for m in container.attrs["Mounts"] if m["Destination"].startswith("/dllab")]
    container.kill()

    job = client.wait(job["id"], "succeeded", timeout=400)
    [restart] = job["restart_history"]
    assert restart["resumed_from_step"] >= 200
    # The store's newest checkpoint when the failure was seen; the old chief may send a
    # newer one as it stops, and the new attempt resumes from whichever is newest then.
    resumed = int(re.search(r"resumed from step (\d+)",
                            client.log(job["id"], "chief-0")).group(1))
    assert resumed >= restart["resumed_from_step"]
    assert (stored / "output" / "model" / "saved_model.pb").exists()
    assert (stored / "output" / "metrics.json").exists()  # sent before the chief ended
    assert list((stored / "logs").glob("events.out.tfevents.*"))
    series = client.user.get(f"/api/v1/jobs/{job['id']}/scalars").json()["series"]
    assert series["loss"][-1][0] == 800

    board = f"/api/v1/jobs/{job['id']}/tensorboard"
    client.user.post(board)
    url = eventually(lambda: client.user.get(board).json()["url"], "TensorBoard running",
                     timeout=120)
    runs = eventually(lambda: (r := client.user.get(f"{url}data/runs")).status_code == 200
                      and r.json(), "TensorBoard lists the run it pulled from S3", timeout=60)
    assert "." in runs
    client.user.delete(board)

    # The SavedModel it made, registered from its output in S3, is kept in S3 and served
    # by a replica that pulls it from there (no mount of the store).
    model = client.user.post("/api/v1/models", json={"name": "s3-digits"}).json()
    version = client.user.post(f"/api/v1/models/{model['id']}/versions",
                               json={"job": {"id": job["id"], "path": "model"}})
    assert version.status_code == 201, version.text
    assert version.json()["location"] == f"s3://{BUCKET}/{PREFIX}/models/{model['id']}/1/"
    kept = Path(s3_server["data"]) / BUCKET / PREFIX / "models" / model["id"] / "1"
    assert (kept / "saved_model.pb").exists() and list((kept / "variables").iterdir())
    created = client.user.post("/api/v1/services", json={"name": "s3-digits",
                                                          "model": "s3-digits"})
    assert created.status_code == 201, created.text
    service_id, url = created.json()["id"], created.json()["url"]

    def serving() -> dict[str, Any] | None:
        service = client.user.get(f"/api/v1/services/{service_id}").json()
        assert service["status"] != "failing", service
        return service if service["status"] == "serving" else None

    [replica] = eventually(serving, "the S3 model served", timeout=180)["replicas"]
    answer = httpx.post(f"{url}:predict", json={"instances": [[0.0] * 64] * 2}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert [len(p) for p in answer.json()["predictions"]] == [10, 10]
    [container] = docker_client.containers.list(filters={"label": f"dllab.unit={replica['unit']}"})
    assert not [m for m in container.attrs["Mounts"] if m["Destination"].startswith("/dllab")]
    assert client.user.delete(f"/api/v1/services/{service_id}").status_code == 204
