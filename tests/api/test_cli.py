"""The ``dllab`` CLI against a live control plane, as a user would run it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from dllab.cli import main


@pytest.fixture
def dllab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DLLAB_CONFIG", str(tmp_path / "cli" / "config.json"))
    monkeypatch.delenv("DLLAB_SERVER", raising=False)
    monkeypatch.delenv("DLLAB_TOKEN", raising=False)
    runner = CliRunner()

    def run(*args: str, ok: bool = True) -> str:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert (result.exit_code == 0) == ok, result.output
        return result.output

    return run


def test_every_command_has_help(dllab):
    commands = [[], ["login"], ["hosts"], ["host"], ["host", "add"], ["host", "remove"],
                ["tokens"], ["tokens", "create"], ["tokens", "revoke"], ["agent"], ["server"],
                ["up"]]
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
