"""Dev environments end to end, on the whole platform as ``make run`` brings it up (``lab``):
control plane, edge proxy, JupyterHub, a docker agent with 4 simulated GPUs, the runtime
image.

A user creates an environment with 2 GPUs through the API and, once it runs: starts a
kernel through JupyterHub (Jupyter's REST and websocket APIs, the console login carried
over) and runs code there; logs a scalar and reads it back from TensorBoard through the
proxy; logs in with OpenSSH; stops and starts it and finds the workspace as left; deletes
it. Another user gets 404 from the API and no way through the hub. Bad input is refused
with a clear 4xx and leaves nothing behind.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from dllab.cli import main
from lab_fixture import Lab, eventually, run_code, ssh

pytestmark = pytest.mark.docker

IMAGE = "dllab/runtime:tf-cpu"


def test_an_environment_from_create_to_delete(lab: Lab, ssh_key: Path):
    alice, bob = lab.add_user("alice"), lab.add_user("bob")
    created = alice.post("/api/v1/environments", json={
        "name": "lab1", "image": IMAGE, "gpus": 2,
        "ssh_public_keys": [ssh_key.with_suffix(".pub").read_text()]})
    assert created.status_code == 201, created.text
    env_id = created.json()["id"]
    assert created.json()["state"] in ("queued", "starting")

    env = lab.wait_state(alice, env_id, "running")
    assert [p["name"] for p in env["phases"]] == [
        "requested", "created", "scheduled", "started", "ready"]
    assert all(p["at"] for p in env["phases"]), env["phases"]
    physical = [d["index"] for d in env["devices"]]
    assert [d["visible_index"] for d in env["devices"]] == [0, 1]
    assert all(d["simulated"] for d in env["devices"])
    server = "/jupyter/user/alice/lab1/"
    assert env["urls"]["jupyter"] == f"{lab.edge}{server}lab"

    # JupyterLab through the hub: the console session logs alice in, no second password.
    page = alice.get(env["urls"]["jupyter"])
    assert page.status_code == 200 and "JupyterLab" in page.text, page.text[:500]
    printed = run_code(lab, alice, server, (
        "import os, tensorflow as tf\n"
        "print('visible', os.environ.get('NVIDIA_VISIBLE_DEVICES'))\n"
        "print('tf', tf.__version__)\n"
        "with tf.summary.create_file_writer('/home/dev/work/logs/run1').as_default():\n"
        "    tf.summary.scalar('loss', 0.5, step=1)\n"
        "open('/home/dev/work/keep.txt', 'w').write('kept')\n"))
    assert f"visible {','.join(map(str, physical))}" in printed, printed
    assert "tf 2." in printed, printed

    # TensorBoard through the proxy, behind the same login, sees the scalar's run.
    board = alice.get(env["urls"]["tensorboard"])
    assert board.status_code == 200, board.text[:500]
    runs = eventually(lambda: alice.get(env["urls"]["tensorboard"] + "data/runs").json(),
                      "TensorBoard lists run1", timeout=60)
    assert runs == ["run1"]

    # SSH with the user's key, password login off; the GPUs and workspace as in Jupyter.
    assert env["ssh"]["command"] == (
        f"ssh -p {env['ssh']['port']} dev@{env['ssh']['host']}")
    login = ssh(ssh_key, env["ssh"], "echo $NVIDIA_VISIBLE_DEVICES; cat ~/work/keep.txt")
    assert login.returncode == 0, login.stderr
    assert login.stdout.split() == [",".join(map(str, physical)), "kept"]

    # Another user: 404 from the API, and the hub does not let them in.
    for method, path in (("GET", ""), ("POST", "/stop"), ("POST", "/start"), ("DELETE", "")):
        answer = bob.request(method, f"/api/v1/environments/{env_id}{path}")
        assert answer.status_code == 404, (method, path, answer.text)
    assert bob.get("/api/v1/environments").json()["count"] == 0
    intruder = bob.get(env["urls"]["jupyter"])
    assert intruder.status_code in (403, 404) and "JupyterLab" not in intruder.text
    assert bob.get(f"{server}api/contents").status_code in (403, 404)

    # Stop frees the GPUs and keeps the workspace; start finds it as it was left.
    stopped = alice.post(f"/api/v1/environments/{env_id}/stop")
    assert stopped.status_code == 200, stopped.text
    lab.wait_state(alice, env_id, "stopped")
    assert alice.get(env["urls"]["jupyter"]).status_code != 200 or \
        "JupyterLab" not in alice.get(env["urls"]["jupyter"]).text
    restarted = alice.post(f"/api/v1/environments/{env_id}/start")
    assert restarted.status_code == 200, restarted.text
    env = lab.wait_state(alice, env_id, "running")
    again = ssh(ssh_key, env["ssh"], "cat ~/work/keep.txt")
    assert again.returncode == 0 and again.stdout == "kept", again.stderr

    # Delete removes it, its container and its workspace.
    workspace = lab.home / "agent" / "workspaces" / env_id
    assert workspace.is_dir()
    assert alice.delete(f"/api/v1/environments/{env_id}").status_code == 204
    assert alice.get(f"/api/v1/environments/{env_id}").status_code == 404
    eventually(lambda: not workspace.exists(), "the workspace removed", timeout=30)


def test_bad_input_is_refused_and_leaves_nothing(lab: Lab, ssh_key: Path):
    carol = lab.add_user("carol")
    ok = {"name": "ok", "image": IMAGE, "gpus": 1}
    cases = [
        ({**ok, "image": "nosuch/image:1"}, 400, "unknown_image"),
        ({**ok, "gpus": 9}, 400, "too_many_gpus"),
        ({**ok, "volumes": [{"source": "/etc", "mount_path": "/data"}]}, 400,
         "volume_outside_roots"),
        ({**ok, "ssh_public_keys": ["ssh-ed25519 not-base64!"]}, 422, None),
        ({**ok, "name": "Not A Name"}, 422, None),
        ({**ok, "gpus": -1}, 422, None),
    ]
    for body, status, reason in cases:
        answer = carol.post("/api/v1/environments", json=body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["detail"], answer.text
        if reason:
            assert answer.json()["reason"] == reason, answer.text
    assert carol.get("/api/v1/environments").json()["count"] == 0

    first = carol.post("/api/v1/environments", json=ok)
    assert first.status_code == 201, first.text
    duplicate = carol.post("/api/v1/environments", json=ok)
    assert duplicate.status_code == 409 and duplicate.json()["reason"] == "environment_exists"
    assert carol.get("/api/v1/environments").json()["count"] == 1

    # GPUs that exist but are busy: queued, with the reason.
    lab.wait_state(carol, first.json()["id"], "running")
    waiting = carol.post("/api/v1/environments", json={**ok, "name": "big", "gpus": 4})
    assert waiting.status_code == 201, waiting.text
    path = f"/api/v1/environments/{waiting.json()['id']}"
    queued = eventually(lambda: (e := carol.get(path).json())["state"] == "queued"
                        and "GPU" in (e["reason"] or "") and e, "queued for GPUs", timeout=30)
    assert queued["position"] == 1, queued
    for env in carol.get("/api/v1/environments").json()["data"]:
        assert carol.delete(f"/api/v1/environments/{env['id']}").status_code == 204


def test_the_cli_creates_shows_stops_and_deletes(lab: Lab, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path):
    dave = lab.add_user("dave")
    token = dave.post("/api/v1/auth/token", data={
        "username": "dave", "password": "dave-password"}).json()["access_token"]
    monkeypatch.setenv("DLLAB_CONFIG", str(tmp_path / "config.json"))
    monkeypatch.setenv("DLLAB_SERVER", lab.api)
    monkeypatch.setenv("DLLAB_TOKEN", token)
    runner = CliRunner()

    def dllab(*args: str) -> str:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    created = dllab("env", "create", "cli1", "--gpus", "1")
    assert "running" in created and "Jupyter:" in created and "/jupyter/user/dave/cli1/lab" \
        in created, created
    assert "GPU" in created and "seen as 0" in created
    assert "cli1" in dllab("env", "list")
    assert "stopped" in dllab("env", "stop", "cli1") or \
        lab.wait_state(dave, dave.get("/api/v1/environments").json()["data"][0]["id"],
                       "stopped")
    assert "deleted" in dllab("env", "delete", "cli1", "--yes")
    assert dave.get("/api/v1/environments").json()["count"] == 0
    bad = runner.invoke(main, ["env", "create", "x", "--image", "nosuch:1", "--no-wait"])
    assert bad.exit_code == 1 and "not in the catalogue" in bad.output


def test_an_s3_volume_is_copied_in_with_progress(lab: Lab, s3_server: dict[str, str],
                                                 ssh_key: Path):
    folder = Path(s3_server["data"]) / "datasets" / "digits"
    (folder / "train").mkdir(parents=True)
    (folder / "train" / "a.csv").write_text("1,2,3\n")
    (folder / "labels.txt").write_text("zero one two\n")
    frank = lab.add_user("frank")
    volume = {"s3": {"endpoint": s3_server["endpoint"], "bucket": "datasets",
                     "prefix": "digits/", "secret": "minio"},
              "mount_path": "/home/dev/data", "read_only": True}
    body = {"name": "s3env", "image": IMAGE, "volumes": [volume],
            "ssh_public_keys": [ssh_key.with_suffix(".pub").read_text()]}
    missing = frank.post("/api/v1/environments", json=body)
    assert (missing.status_code, missing.json()["reason"]) == (400, "unknown_secret")
    assert frank.post("/api/v1/secrets", json={"name": "minio", "data": {
        "ACCESS_KEY": "AKTEST", "SECRET_KEY": "SKTEST"}}).status_code == 201
    created = frank.post("/api/v1/environments", json=body)
    assert created.status_code == 201, created.text
    env = lab.wait_state(frank, created.json()["id"], "running")

    listing = ssh(ssh_key, env["ssh"], "cat ~/data/train/a.csv ~/data/labels.txt; "
                                       "touch ~/data/x 2>/dev/null || echo read-only")
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.split("\n")[:3] == ["1,2,3", "zero one two", "read-only"]
    log = frank.get(f"/api/v1/units/{env['unit']}/logs").text
    assert "s3 copy s3://datasets/digits/ -> /home/dev/data: 2 files" in log, log
    assert "2/2 files" in log, log
