"""Idle culling: an environment nobody uses is stopped, its workspace kept and the reason
shown, while an open SSH session or a kernel at work (a long cell that prints nothing)
keeps it running. On its own platform (``dllab up``) with an idle limit of 10 s."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lab_fixture import Lab, eventually, run_code, running_lab, ssh, ssh_command

pytestmark = pytest.mark.docker

# Short, yet long enough for an SSH session to connect and be reported on a busy machine.
IDLE_SECONDS = 10


@pytest.fixture(scope="module")
def idle_lab(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(docker_client, tmp_path_factory.mktemp("idle-lab"),
                     ENVIRONMENT_IDLE_MINUTES=str(IDLE_SECONDS / 60),
                     ENVIRONMENT_IDLE_CHECK_SECONDS="1") as lab:
        yield lab


def state(client: httpx.Client, environment_id: str) -> dict[str, Any]:
    return client.get(f"/api/v1/environments/{environment_id}").json()


def test_use_keeps_an_environment_and_idleness_stops_it(idle_lab: Lab, ssh_key: Path):
    lab = idle_lab
    erin = lab.add_user("erin")
    created = erin.post("/api/v1/environments", json={
        "name": "quiet", "image": "dllab/runtime:tf-cpu", "gpus": 1,
        "ssh_public_keys": [ssh_key.with_suffix(".pub").read_text()]})
    assert created.status_code == 201, created.text
    env_id = created.json()["id"]
    env = lab.wait_state(erin, env_id, "running")

    # An SSH session that outlasts the idle limit twice over keeps it running.
    session = subprocess.Popen(ssh_command(
        ssh_key, env["ssh"], f"touch ~/work/mark; sleep {2 * IDLE_SECONDS + 2}"))
    try:
        time.sleep(3 * IDLE_SECONDS / 2 + 3)
        assert state(erin, env_id)["state"] == "running"
    finally:
        assert session.wait(30) == 0

    # Then nobody: stopped, and the owner sees why.
    stopped = eventually(lambda: (e := state(erin, env_id))["state"] == "stopped" and e,
                         "stopped for idleness", timeout=4 * IDLE_SECONDS + 20)
    assert "without use" in stopped["reason"] and "workspace is kept" in stopped["reason"]

    # A kernel busy on a long silent cell keeps it too; the workspace is as it was left.
    assert erin.post(f"/api/v1/environments/{env_id}/start").status_code == 200
    env = lab.wait_state(erin, env_id, "running")
    assert erin.get(env["urls"]["jupyter"]).status_code == 200
    server = "/jupyter/user/erin/quiet/"
    printed = run_code(lab, erin, server, (
        "import os, time\n"
        f"t = time.time()\nwhile time.time() - t < {3 * IDLE_SECONDS}: pass\n"
        "print(os.path.exists('/home/dev/work/mark'))\n"))
    assert printed.strip() == "True"
    assert state(erin, env_id)["state"] == "running"
    eventually(lambda: state(erin, env_id)["state"] == "stopped", "stopped once idle again",
               timeout=4 * IDLE_SECONDS + 20)
    assert ssh(ssh_key, env["ssh"], "true").returncode != 0  # it is gone
