"""The jobs API with the hosts' agents played by the test: what is refused before anything
is made, the gang placed at once with each replica's TF_CONFIG, and the job's rules as its
replicas end (success, gang restart from a checkpoint, not-retryable failures, no restarts
left, a lost host), cancel, logs and other users. Real containers and TensorFlow run in
tests/integration/test_jobs.py."""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from sqlalchemy import select

from dllab.db.models import Job, Unit
from dllab.protocol import TASK_START_UNIT, TASK_STOP_UNIT
from dllab.services import tensorboards

JOBS = "/api/v1/jobs"
EVENTS = Path(__file__).parents[1] / "unit" / "data" / "events"  # see tests/unit/test_events.py
IMAGE = {"name": "dllab/runtime", "tag": "tf-cpu", "framework": "tensorflow",
         "framework_version": "2.21.0"}
MWMS = {"name": "digits", "image": "dllab/runtime:tf-cpu", "command": ["python", "train.py"],
        "strategy": "multi_worker_mirrored",
        "replicas": {"chief": {"count": 1, "gpus": 1}, "worker": {"count": 2, "gpus": 1}}}
PS = {**MWMS, "name": "async", "strategy": "parameter_server",
      "replicas": {"chief": {"count": 1}, "worker": {"count": 2, "gpus": 1}, "ps": {"count": 1},
                   "evaluator": {"count": 1}}}


@pytest.fixture
def catalogue(client, admin):
    assert client.post("/api/v1/images", headers=admin, json=IMAGE).status_code == 201


@pytest.fixture
def hosts(agent, catalogue):
    return [agent("gpu-1", gpus=2, runtime="docker", address="10.0.0.1"),
            agent("gpu-2", gpus=2, runtime="docker", address="10.0.0.2")]


def submit(client, headers, body) -> dict:
    answer = client.post(JOBS, headers=headers, json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def get(client, headers, job_id) -> dict:
    answer = client.get(f"{JOBS}/{job_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def starts(broker) -> dict[str, dict]:
    """The start commands sent, by unit id."""
    return {m.args[0]["unit_id"]: m.args[0] for m in broker.messages(TASK_START_UNIT)}


def stops(broker) -> set[str]:
    return {m.args[0] for m in broker.messages(TASK_STOP_UNIT)}


def run_all(hosts, job) -> None:
    by_host = {h.name: h for h in hosts}
    for replica in job["replicas"]:
        assert by_host[replica["host"]].report(replica["unit"], "running").status_code == 204


def archive(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


def test_bad_input_is_refused_and_leaves_nothing_behind(client, make_user, hosts, settings,
                                                       db):
    alice = make_user("alice")
    for body, status, reason in [
        ({**MWMS, "strategy": "allreduce"}, 422, None),
        ({**MWMS, "strategy": "parameter_server",
          "replicas": {"chief": {"count": 1}, "ps": {"count": 1}}}, 422, None),
        ({**MWMS, "replicas": {"worker": {"count": -1}}}, 422, None),
        ({**MWMS, "replicas": {"master": {"count": 1}}}, 422, None),
        ({**MWMS, "replicas": {"worker": {"count": 2, "gpus": 3}}}, 400, "too_many_gpus"),
        ({**MWMS, "image": "dllab/runtime:nosuch"}, 400, "unknown_image"),
        ({**MWMS, "code": {"upload": "0" * 32}}, 400, "unknown_code_upload"),
        ({**MWMS, "code": {"path": "/etc"}}, 400, "volume_outside_roots"),
        ({**MWMS, "not_retryable": ["(unclosed"]}, 422, None),
        ({**MWMS, "name": "x" * 41}, 422, None),
        ({**MWMS, "command": []}, 422, None),
        ({**MWMS, "priority": 5}, 403, "priority"),
    ]:
        answer = client.post(JOBS, headers=alice, json=body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["detail"]
        if reason:
            assert answer.json()["reason"] == reason, answer.text
    assert client.get(JOBS, headers=alice).json()["count"] == 0
    with db() as session:
        assert session.scalars(select(Unit)).all() == []
    assert not (settings.artifacts_dir / "jobs").exists() or not any(
        (settings.artifacts_dir / "jobs").iterdir())


def test_archives_that_are_not_tar_gz_or_escape_their_folder_are_refused(client, make_user,
                                                                        settings):
    alice = make_user("alice")
    for body in [b"not an archive", archive({"../evil.py": b"x"}),
                 archive({"/etc/evil.py": b"x"}), archive({"ok.py": b"x"}, {"link": "/etc"}),
                 b""]:
        answer = client.post(f"{JOBS}/code", content=body,
                             headers={**alice, "Content-Type": "application/gzip"})
        assert answer.status_code == 400, answer.text
        assert answer.json()["reason"] == "bad_archive"
    code = settings.artifacts_dir / "code"
    assert not code.exists() or not [p for p in code.rglob("*") if p.is_file()]


def test_uploaded_code_is_mounted_read_only_for_its_owner_only(client, make_user, hosts,
                                                              broker, settings):
    alice, bob = make_user("alice"), make_user("bob")
    answer = client.post(f"{JOBS}/code", headers={**alice, "Content-Type": "application/gzip"},
                         content=archive({"train.py": b"print('hi')\n", "lib/util.py": b""}))
    assert answer.status_code == 201, answer.text
    upload = answer.json()
    assert (upload["files"], upload["bytes"]) == (2, 12)
    refused = client.post(JOBS, headers=bob, json={**MWMS, "code": {"upload": upload["id"]}})
    assert refused.json()["reason"] == "unknown_code_upload"
    job = submit(client, alice, {**MWMS, "code": {"upload": upload["id"]}})
    spec = starts(broker)[job["replicas"][0]["unit"]]
    code = next(m for m in spec["mounts"] if m["target"] == "/dllab/code")
    assert code["read_only"] and Path(code["source"], "train.py").read_text() == "print('hi')\n"
    assert spec["working_dir"] == "/dllab/code"


def test_a_gang_is_placed_at_once_and_each_replica_gets_its_tf_config(client, make_user,
                                                                      hosts, broker, settings):
    alice = make_user("alice")
    job = submit(client, alice, MWMS)
    assert job["status"] == "starting"
    assert [r["name"] for r in job["replicas"]] == ["chief-0", "worker-0", "worker-1"]
    sent = starts(broker)
    assert set(sent) == {r["unit"] for r in job["replicas"]}
    configs = {}
    for replica in job["replicas"]:
        spec = sent[replica["unit"]]
        env = spec["env"]
        assert env["DLLAB_JOB_ID"] == job["id"]
        assert (env["DLLAB_REPLICA_ROLE"], env["DLLAB_REPLICA_INDEX"]) == (
            replica["role"], str(replica["index"]))
        assert env["DLLAB_CHECKPOINT_DIR"] == "/dllab/artifacts/checkpoints"
        assert env["DLLAB_LOG_DIR"] == "/dllab/artifacts/logs"
        assert env["DLLAB_OUTPUT_DIR"] == "/dllab/artifacts/output"
        artifacts = next(m for m in spec["mounts"] if m["target"] == "/dllab/artifacts")
        assert Path(artifacts["source"]) == Path(job["artifacts"])
        assert (Path(job["artifacts"]) / "checkpoints").is_dir()
        host = "10.0.0.1" if replica["host"] == "gpu-1" else "10.0.0.2"
        assert replica["address"] == f"{host}:{spec['host_port']}"
        assert settings.job_ports[0] <= spec["host_port"] <= settings.job_ports[1]
        config = json.loads(env["TF_CONFIG"])
        assert config == replica["tf_config"]
        assert config["task"] == {"type": replica["role"], "index": replica["index"]}
        configs[replica["name"]] = config
        assert len(replica["gpus"]) == 1 and replica["gpus"][0]["visible_index"] == 0
    addresses = [r["address"] for r in job["replicas"]]
    assert len(set(addresses)) == 3
    for config in configs.values():
        assert config["cluster"] == {"chief": addresses[:1], "worker": addresses[1:]}


def test_a_queued_job_shows_the_tf_config_it_will_get_and_the_evaluator_stands_alone(
        client, make_user, hosts, broker):
    alice = make_user("alice")
    hog = submit(client, alice, {**MWMS, "name": "hog", "replicas": {
        "chief": {"count": 1, "gpus": 2}, "worker": {"count": 1, "gpus": 2}}})
    job = submit(client, alice, PS)
    assert job["status"] == "queued" and job["position"] == 1 and job["reason"]
    by_name = {r["name"]: r for r in job["replicas"]}
    assert by_name["worker-1"]["tf_config"] == {
        "cluster": {"chief": ["chief-0:pending"], "worker": ["worker-0:pending",
                                                             "worker-1:pending"],
                    "ps": ["ps-0:pending"]},
        "task": {"type": "worker", "index": 1}}
    assert by_name["evaluator-0"]["tf_config"] == {
        "cluster": {"evaluator": ["evaluator-0:pending"]},
        "task": {"type": "evaluator", "index": 0}}
    client.post(f"{JOBS}/{hog['id']}/cancel", headers=alice)
    hosts[0].heartbeat([{"unit_id": r["unit"], "state": "missing"}
                        for r in hog["replicas"] if r["host"] == "gpu-1"])
    hosts[1].heartbeat([{"unit_id": r["unit"], "state": "missing"}
                        for r in hog["replicas"] if r["host"] == "gpu-2"])
    job = get(client, alice, job["id"])
    assert job["status"] == "starting", job
    by_name = {r["name"]: r for r in job["replicas"]}
    evaluator = by_name["evaluator-0"]["tf_config"]
    assert evaluator == {"cluster": {"evaluator": [by_name["evaluator-0"]["address"]]},
                         "task": {"type": "evaluator", "index": 0}}
    assert "evaluator" not in by_name["chief-0"]["tf_config"]["cluster"]


def test_the_chief_exiting_0_ends_the_job_and_stops_the_rest(client, make_user, hosts,
                                                             broker):
    alice = make_user("alice")
    job = submit(client, alice, PS)
    run_all(hosts, job)
    assert get(client, alice, job["id"])["status"] == "running"
    chief = job["replicas"][0]
    host = next(h for h in hosts if h.name == chief["host"])
    host.report(chief["unit"], "exited", exit_code=0)
    job = get(client, alice, job["id"])
    assert job["status"] == "succeeded" and job["finished_at"]
    rest = {r["unit"] for r in job["replicas"][1:]}
    assert rest <= stops(broker)  # ps never exit by themselves
    assert {r["state"] for r in job["replicas"][1:]} == {"stopping"}


def test_a_failed_worker_restarts_the_gang_from_the_newest_checkpoint(client, make_user,
                                                                     hosts, broker):
    alice = make_user("alice")
    job = submit(client, alice, {**MWMS, "max_restarts": 2})
    run_all(hosts, job)
    checkpoints = Path(job["artifacts"]) / "checkpoints"
    (checkpoints / "checkpoint").write_text(
        'model_checkpoint_path: "ckpt-1200"\nall_model_checkpoint_paths: "ckpt-1100"\n'
        'all_model_checkpoint_paths: "ckpt-1200"\n')
    worker = job["replicas"][2]
    host = next(h for h in hosts if h.name == worker["host"])
    host.report(worker["unit"], "exited", exit_code=137)
    old = {r["unit"] for r in job["replicas"]}
    assert old - {worker["unit"]} <= stops(broker)
    for h in hosts:  # the agents confirm the old attempt gone: its GPUs are free again
        h.heartbeat([{"unit_id": r["unit"], "state": "missing"} for r in job["replicas"]
                     if r["host"] == h.name and r["unit"] != worker["unit"]])
    job = get(client, alice, job["id"])
    assert (job["status"], job["attempt"], job["restarts"]) == ("restarting", 2, 1), job
    [restart] = job["restart_history"]
    assert restart["resumed_from_step"] == 1200 and restart["attempt"] == 2
    assert "worker-1" in restart["reason"] and "137" in restart["reason"]
    new = {r["unit"] for r in job["replicas"]}
    assert not new & old and new <= set(starts(broker))
    assert all(r["tf_config"]["cluster"]["worker"] for r in job["replicas"])
    run_all(hosts, job)
    job = get(client, alice, job["id"])
    assert job["status"] == "running"
    assert job["reason"] == "resumed from step 1200, attempt 2 of 3"
    old_log = client.get(f"{JOBS}/{job['id']}/logs", headers=alice,
                         params={"replica": "worker-1", "attempt": 1})
    assert old_log.status_code == 200


def test_a_failure_matching_a_not_retryable_pattern_fails_the_job_at_once(client, make_user,
                                                                         hosts, broker):
    alice = make_user("alice")
    job = submit(client, alice, MWMS)
    run_all(hosts, job)
    worker = job["replicas"][1]
    host = next(h for h in hosts if h.name == worker["host"])
    host.ship_logs(worker["unit"], 0, [
        "2026-11-27T10:00:00Z step 10", "2026-11-27T10:00:01Z tensorflow.python.framework."
        "errors_impl.ResourceExhaustedError: OOM when allocating tensor"])
    host.report(worker["unit"], "exited", exit_code=1)
    job = get(client, alice, job["id"])
    assert (job["status"], job["restarts"]) == ("failed", 0)
    assert "ResourceExhaustedError" in job["reason"] and "worker-0" in job["reason"]


def test_no_restarts_left_fails_the_job(client, make_user, hosts, broker):
    alice = make_user("alice")
    job = submit(client, alice, {**MWMS, "max_restarts": 0})
    run_all(hosts, job)
    chief = job["replicas"][0]
    next(h for h in hosts if h.name == chief["host"]).report(chief["unit"], "exited",
                                                              exit_code=2)
    job = get(client, alice, job["id"])
    assert job["status"] == "failed"
    assert "chief-0" in job["reason"] and "no restarts left (0 of 0 used)" in job["reason"]


def test_cancel_stops_every_replica_and_frees_the_queue(client, make_user, hosts, broker, db):
    alice = make_user("alice")
    running = submit(client, alice, MWMS)
    waiting = submit(client, alice, {**MWMS, "name": "waiting"})
    assert waiting["status"] == "queued"
    answer = client.post(f"{JOBS}/{waiting['id']}/cancel", headers=alice)
    assert answer.json()["status"] == "cancelled"
    assert {r["state"] for r in answer.json()["replicas"]} == {"stopped"}
    answer = client.post(f"{JOBS}/{running['id']}/cancel", headers=alice)
    job = answer.json()
    assert job["status"] == "cancelled" and job["reason"] == "cancelled by alice"
    assert {r["unit"] for r in job["replicas"]} <= stops(broker)
    for h in hosts:
        h.heartbeat([{"unit_id": r["unit"], "state": "missing"} for r in job["replicas"]
                     if r["host"] == h.name])
    job = get(client, alice, running["id"])
    assert {r["state"] for r in job["replicas"]} == {"stopped"}
    every_gpu = submit(client, alice, {**MWMS, "name": "after", "replicas": {
        "chief": {"count": 1, "gpus": 2}, "worker": {"count": 1, "gpus": 2}}})
    assert every_gpu["status"] == "starting"  # nothing is held by the cancelled jobs
    with db() as session:
        assert session.scalar(select(Job).where(Job.id == running["id"])).outcome == "cancelled"
        cancelled = select(Job.workload_id).where(Job.id.in_([running["id"], waiting["id"]]))
        assert {u.state for u in session.scalars(select(Unit).where(
            Unit.workload_id.in_(cancelled)))} == {"stopped"}


def test_logs_list_filters_and_other_users(client, make_user, hosts, broker):
    alice, bob = make_user("alice"), make_user("bob")
    job = submit(client, alice, MWMS)
    run_all(hosts, job)
    worker = job["replicas"][2]
    host = next(h for h in hosts if h.name == worker["host"])
    host.ship_logs(worker["unit"], 0, ["2026-11-27T10:00:00Z step 1",
                                       "2026-11-27T10:00:01Z step 2"])
    logs = client.get(f"{JOBS}/{job['id']}/logs", headers=alice,
                      params={"replica": "worker-1", "tail": 1})
    assert logs.text == "2026-11-27T10:00:01Z step 2\n"
    missing = client.get(f"{JOBS}/{job['id']}/logs", headers=alice,
                         params={"replica": "worker-7"})
    assert missing.status_code == 404 and "worker-1" in missing.json()["detail"]
    assert client.get(f"{JOBS}/{job['id']}/logs", headers=alice,
                      params={"replica": "boss-0"}).status_code == 422
    assert client.get(f"{JOBS}?status=running", headers=alice).json()["count"] == 1
    assert client.get(f"{JOBS}?status=succeeded", headers=alice).json()["count"] == 0
    assert client.get(f"{JOBS}?status=nonsense", headers=alice).status_code == 422
    for path in (f"{JOBS}/{job['id']}", f"{JOBS}/{job['id']}/logs"):
        assert client.get(path, headers=bob).status_code == 404
    assert client.post(f"{JOBS}/{job['id']}/cancel", headers=bob).status_code == 404
    assert client.get(JOBS, headers=bob).json()["count"] == 0
    assert client.get(f"{JOBS}/{job['id']}/scalars", headers=bob).status_code == 404


def test_scalars_are_read_from_the_jobs_event_files(client, make_user, hosts):
    alice = make_user("alice")
    job = submit(client, alice, MWMS)
    assert client.get(f"{JOBS}/{job['id']}/scalars", headers=alice).json() == {"series": {}}
    shutil.copytree(EVENTS, Path(job["artifacts"]) / "logs", dirs_exist_ok=True)
    series = client.get(f"{JOBS}/{job['id']}/scalars", headers=alice).json()["series"]
    assert series["accuracy"] == [[10, 0.25], [20, 0.5], [30, 0.75]]
    assert series["eval/accuracy"] == [[30, 0.5]] and len(series["loss"]) == 3


def test_the_cli_submits_a_job_file_with_its_code_and_follows_it(
        dllab, live_server, admin_password, hosts, tmp_path, broker):
    dllab("login", "--server", live_server, "--username", "admin", "--password", admin_password)
    (tmp_path / "code" / "__pycache__").mkdir(parents=True)
    (tmp_path / "code" / "train.py").write_text("print('training')\n")
    (tmp_path / "code" / "__pycache__" / "train.pyc").write_bytes(b"skipped")
    (tmp_path / "job.yaml").write_text(
        "name: cli-job\nimage: dllab/runtime:tf-cpu\ncode: {dir: code}\n"
        "command: [python, train.py]\nstrategy: parameter_server\n"
        "replicas: {chief: {count: 1}, worker: {count: 1}, ps: {count: 1}}\n")
    out = dllab("job", "submit", "-f", str(tmp_path / "job.yaml"), "--no-wait")
    assert "1 files" in out  # __pycache__ left out
    job_id = re.search(r"submitted: ([0-9a-f]{32})", out).group(1)
    assert "cli-job" in dllab("job", "list") and "parameter_server" in dllab("job", "list")
    shown = dllab("job", "show", "cli-job")
    assert "ps-0" in shown and "worker-0" in shown and "starting" in shown
    chief = next(m.args[0] for m in broker.messages(TASK_START_UNIT)
                 if m.args[0]["env"]["DLLAB_REPLICA_ROLE"] == "chief")
    host = next(h for h in hosts if h.name == chief["labels"]["dllab.host"])
    host.ship_logs(chief["unit_id"], 0, ["2026-11-27T10:00:00Z training"])
    assert dllab("job", "logs", job_id) == "2026-11-27T10:00:00Z training\n"
    assert "no replica worker-5" in dllab("job", "logs", job_id, "--replica", "worker-5",
                                          ok=False)
    assert "cancelled" in dllab("job", "cancel", "cli-job")
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    assert "not valid YAML" in dllab("job", "submit", "-f", str(tmp_path / "bad.yaml"),
                                     ok=False)
    (tmp_path / "wrong.yaml").write_text("name: x\nimage: dllab/runtime:tf-cpu\n"
                                         "command: [x]\nstrategy: allreduce\nreplicas: {}\n")
    assert "strategy" in dllab("job", "submit", "-f", str(tmp_path / "wrong.yaml"), ok=False)


def test_a_tensorboard_starts_on_demand_and_stops_when_idle(client, make_user, hosts, broker,
                                                           db, app, settings):
    alice, bob = make_user("alice"), make_user("bob")
    job = submit(client, alice, MWMS)
    board = f"{JOBS}/{job['id']}/tensorboard"
    assert client.get(board, headers=alice).json() == {"state": "stopped", "url": None,
                                                       "reason": None}
    assert client.post(board, headers=bob).status_code == 404
    assert client.post(board, headers=alice).json()["state"] == "starting"
    client.post(board, headers=alice)  # twice: still one
    [spec] = [m.args[0] for m in broker.messages(TASK_START_UNIT)
              if m.args[0]["labels"]["dllab.kind"] == "tensorboard"]
    assert spec["command"][:3] == ["tensorboard", "--logdir", "/dllab/artifacts/logs"]
    assert spec["command"][spec["command"].index("--path_prefix") + 1] == \
        f"/tensorboard/jobs/{job['id']}"
    [artifacts] = spec["mounts"]
    assert artifacts["read_only"] and Path(artifacts["source"]) == Path(job["artifacts"])
    assert client.get(f"{board}/auth", headers=alice).status_code == 204
    assert client.get(f"{board}/auth", headers=bob).status_code == 404
    assert client.get(f"{board}/auth").status_code == 401
    # Unopened for longer than the limit: the culler stops it.
    with db() as session:
        record = session.get(Job, job["id"])
        record.tensorboard_used_at = record.created_at - timedelta(hours=1)
        session.commit()
        context = app.state.context
        assert tensorboards.stop_idle(session, settings, context.dispatcher) == [job["id"]]
    assert spec["unit_id"] in stops(broker)
    next(h for h in hosts if h.name == spec["labels"]["dllab.host"]).heartbeat(
        [{"unit_id": spec["unit_id"], "state": "missing"}])
    assert client.get(board, headers=alice).json()["state"] == "stopped"


def test_with_an_s3_store_replicas_get_their_place_in_it_and_the_api_reads_it(
        client, make_user, hosts, broker, settings, s3_server, tmp_path):
    (Path(s3_server["data"]) / "artifacts").mkdir(exist_ok=True)
    lab = tmp_path.name  # a prefix of its own: the server is the module's
    settings.artifact_s3_url = f"s3://artifacts/{lab}"
    settings.artifact_s3_endpoint = s3_server["local_endpoint"]
    settings.artifact_s3_access_key, settings.artifact_s3_secret_key = "AKTEST", "SKTEST"
    alice = make_user("alice")
    upload = client.post(f"{JOBS}/code", headers={**alice, "Content-Type": "application/gzip"},
                         content=archive({"train.py": b"print('hi')\n"})).json()
    bucket = Path(s3_server["data"]) / "artifacts" / lab
    [code] = list((bucket / "code").rglob("train.py"))
    assert code.read_text() == "print('hi')\n" and code.parent.name == upload["id"]

    job = submit(client, alice, {**MWMS, "code": {"upload": upload["id"]}, "max_restarts": 1})
    assert job["artifacts"] == f"s3://artifacts/{lab}/jobs/{job['id']}/"
    spec = starts(broker)[job["replicas"][0]["unit"]]
    assert not [m for m in spec["mounts"] if m["target"].startswith("/dllab")]
    store = json.loads(spec["env"]["DLLAB_ARTIFACTS_S3"])
    assert store["prefix"] == f"{lab}/jobs/{job['id']}" and store["bucket"] == "artifacts"
    assert store["code_prefix"] == f"{lab}/code/{code.parent.parent.name}/{upload['id']}"
    assert spec["working_dir"] == "/dllab/code"

    # What the replicas would have sent, sent the same way: the API reads it from S3.
    s3 = boto3.client("s3", endpoint_url=s3_server["local_endpoint"], region_name="us-east-1",
                      aws_access_key_id="AKTEST", aws_secret_access_key="SKTEST")
    for path in EVENTS.rglob("events.out.tfevents.*"):
        s3.upload_file(str(path), "artifacts", f"{store['prefix']}/logs/"
                       f"{path.relative_to(EVENTS).as_posix()}")
    s3.put_object(Bucket="artifacts", Key=f"{store['prefix']}/checkpoints/checkpoint",
                  Body=b'model_checkpoint_path: "ckpt-300"\n')
    series = client.get(f"{JOBS}/{job['id']}/scalars", headers=alice).json()["series"]
    assert series["accuracy"] == [[10, 0.25], [20, 0.5], [30, 0.75]]
    run_all(hosts, job)
    worker = job["replicas"][1]
    next(h for h in hosts if h.name == worker["host"]).report(worker["unit"], "exited",
                                                              exit_code=1)
    job = get(client, alice, job["id"])
    assert job["restart_history"][0]["resumed_from_step"] == 300
