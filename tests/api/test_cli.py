"""The ``dllab`` CLI against a live control plane, as a user would run it."""

from __future__ import annotations

import json
import re
import subprocess


def test_every_command_has_help(dllab):
    commands = [[], ["login"], ["hosts"], ["host"], ["host", "add"], ["host", "remove"],
                ["tokens"], ["tokens", "create"], ["tokens", "revoke"], ["agent"], ["server"],
                ["up"], ["queue"], ["cluster"], ["user"], ["user", "quota"], ["images"],
                ["images", "add"], ["images", "remove"], ["ssh-keys"], ["edge"], ["hub"],
                ["env"], ["env", "list"], ["env", "create"], ["env", "show"], ["env", "stop"],
                ["env", "start"], ["env", "delete"], ["secrets"], ["secrets", "set"],
                ["secrets", "remove"], ["job"], ["job", "submit"], ["job", "list"],
                ["job", "show"], ["job", "logs"], ["job", "cancel"], ["model"],
                ["model", "list"], ["model", "create"], ["model", "show"], ["model", "delete"],
                ["model", "register"], ["model", "label"], ["model", "unlabel"],
                ["model", "delete-version"], ["service"], ["service", "list"],
                ["service", "create"], ["service", "show"], ["service", "update"],
                ["service", "canary"], ["service", "promote"], ["service", "rollback"],
                ["service", "delete"], ["service", "token"], ["service", "predict"],
                ["service", "metrics"]]
    for command in commands:
        assert "Usage: " in dllab(*command, "--help")


def test_commands_before_login_say_how_to_log_in(dllab):
    assert "dllab login" in dllab("hosts", ok=False)


def test_login_hosts_tokens_and_host_add(dllab, live_server, admin_password, tmp_path):
    out = dllab("login", "--server", live_server, "--username", "admin",
                "--password", admin_password)
    assert "Logged in" in out
    config = tmp_path / "cli" / "config.json"
    assert json.loads(config.read_text())["server"] == live_server
    assert config.stat().st_mode & 0o777 == 0o600

    out = dllab("host", "add", "gpu-07")
    command = re.search(r"DLLAB_HOST_TOKEN=(dlh_\S+) dllab agent --server (\S+)", out)
    assert command and command.group(2) == live_server
    assert "gpu-07" in dllab("hosts") and "new" in dllab("hosts")

    out = dllab("tokens", "create", "laptop", "--expires-in-days", "7")
    token_id, secret = re.search(r"Token (\d+) \(laptop\): (dlu_\S+)", out).groups()
    assert "laptop" in dllab("tokens") and secret not in dllab("tokens")
    dllab("tokens", "revoke", token_id)
    assert "laptop" not in dllab("tokens")
    assert "no token" in dllab("tokens", "revoke", token_id, ok=False)

    dllab("host", "remove", "gpu-07")
    assert "gpu-07" not in dllab("hosts")


def test_wrong_password_and_bad_names_are_explained(dllab, live_server, admin_password):
    out = dllab("login", "--server", live_server, "--username", "admin", "--password", "nope",
                ok=False)
    assert "wrong username or password" in out
    dllab("login", "--server", live_server, "--username", "admin", "--password", admin_password)
    assert "name" in dllab("host", "add", "Not_A_Name", ok=False)


def test_queue_cluster_and_quota(dllab, live_server, admin_password, agent_host, client,
                                 make_user):
    agent_host("gpu-1", gpus=2)
    make_user("dana")
    dllab("login", "--server", live_server, "--username", "admin", "--password", admin_password)
    assert "dana may now hold 1 GPU(s) at once." in dllab("user", "quota", "dana", "1")
    assert "no user 'nobody'" in dllab("user", "quota", "nobody", "1", ok=False)
    assert "a number of GPUs" in dllab("user", "quota", "dana", "lots", ok=False)
    dana = client.post("/api/v1/auth/token",
                       data={"username": "dana", "password": "dana-password"}).json()
    headers = {"Authorization": f"Bearer {dana['access_token']}"}
    for name in ("first", "second"):
        answer = client.post("/api/v1/units", headers=headers,
                             json={"name": name, "command": ["x"], "gpus": 1})
        assert answer.status_code == 201, answer.text
    queue = dllab("queue")
    assert "second" in queue and "quota: 1 GPU, 1 in use" in queue and "first" not in queue
    cluster = dllab("cluster")
    assert "dana/first (sees GPU 0)" in cluster and "free" in cluster
    assert "1 of 2 online GPUs free; 1 workload(s) queued." in cluster
    assert "RESERVED_FOR" in cluster
    assert "unlimited" in dllab("user", "quota", "dana", "unlimited")
    assert "second" not in dllab("queue")


def test_images_and_ssh_keys(dllab, live_server, admin_password, tmp_path):
    dllab("login", "--server", live_server, "--username", "admin", "--password", admin_password)
    out = dllab("images", "add", "dllab/runtime:tf2.21-cpu", "--version", "2.21.0")
    assert "Image dllab/runtime:tf2.21-cpu added" in out
    assert "dllab/runtime:tf2.21-cpu" in dllab("images")
    assert "name:tag" in dllab("images", "add", "no-tag", "--version", "1", ok=False)
    assert "in the catalogue already" in dllab("images", "add", "dllab/runtime:tf2.21-cpu",
                                               "--version", "2.21.0", ok=False)
    keygen = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me@cli",
                             "-f", str(tmp_path / "k")], check=True)
    assert keygen.returncode == 0
    out = dllab("ssh-keys", "--set", str(tmp_path / "k.pub"))
    assert "ssh-ed25519" in out and "me@cli" in out and "SHA256:" in out
    assert "me@cli" in dllab("ssh-keys")
    (tmp_path / "bad.pub").write_text("ssh-dss AAAA\n")
    assert "unknown key type" in dllab("ssh-keys", "--set", str(tmp_path / "bad.pub"), ok=False)
