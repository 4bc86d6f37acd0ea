"""``dllab model`` and ``dllab service`` against a live control plane (no agent: services
stay starting), as a user would run them."""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import pytest

from dllab.config import Settings

SAVED_MODELS = Path(__file__).resolve().parents[1] / "unit" / "data" / "saved_models"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Folders under the fixtures may be registered by --path.
    settings.environment_volume_roots = [SAVED_MODELS]
    return settings


@pytest.fixture
def logged_in(dllab, live_server, admin_password):
    dllab("login", "--server", live_server, "--username", "admin", "--password", admin_password)
    return dllab


def test_the_model_registry(logged_in, tmp_path):
    dllab = logged_in
    assert dllab("model", "list") == "(none)\n"
    assert "Model digits created" in dllab("model", "create", "digits",
                                           "--description", "8x8 digits")
    assert "already have a model named digits" in dllab("model", "create", "digits", ok=False)

    out = dllab("model", "register", "digits", "--path", str(SAVED_MODELS / "keras_dense"))
    assert "Registered version 1 of digits" in out
    assert "serving_default: (inputs: float32[-1,4]) -> (output_0: float32[-1,2])" in out
    out = dllab("model", "register", "digits", "--upload", str(SAVED_MODELS / "two_inputs"))
    assert "Registered version 2" in out and "from an upload" in out
    assert "(features: float32[-1,3], ids: int64[-1])" in out
    with tarfile.open(tmp_path / "m.tar.gz", "w:gz") as tar:
        tar.add(SAVED_MODELS / "fixed_shape" / "saved_model.pb", arcname="m/saved_model.pb")
    assert "Registered version 3" in dllab("model", "register", "digits",
                                           "--upload", str(tmp_path / "m.tar.gz"))

    assert "outside the allowed roots" in dllab("model", "register", "digits",
                                                "--path", str(tmp_path), ok=False)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no model here")
    out = dllab("model", "register", "digits", "--upload", str(tmp_path / "empty"), ok=False)
    assert "HTTP 400" in out
    assert "give one of" in dllab("model", "register", "digits", ok=False)
    assert "give one of" in dllab("model", "register", "digits", "--path", "/x",
                                  "--upload", str(tmp_path / "m.tar.gz"), ok=False)
    assert "no job of yours named 'nojob'" in dllab("model", "register", "digits",
                                                    "--job", "nojob", ok=False)
    assert "no job" in dllab("model", "register", "digits", "--job", "0" * 32, "--path", "out",
                             ok=False)

    assert "stable -> version 1" in dllab("model", "label", "digits", "stable", "1")
    assert "HTTP 404" in dllab("model", "label", "digits", "canary", "9", ok=False)
    shown = dllab("model", "show", "digits")
    assert "3 version(s), labels: stable=1" in shown and "8x8 digits" in shown
    assert "version 1 [stable]" in shown and "int64[-1]" in shown
    assert shown.index("version 3") < shown.index("version 1")  # newest first
    listed = dllab("model", "list")
    assert "digits" in listed and "stable=1" in listed
    model_id = re.search(r"digits ([0-9a-f]{32})", shown).group(1)
    assert "labels: none" in dllab("model", "unlabel", model_id, "stable")

    assert "Version 3 of digits deleted" in dllab("model", "delete-version", "digits", "3",
                                                  "--yes")
    assert "version 3" not in dllab("model", "show", "digits")
    assert "no version 3" in dllab("model", "delete-version", "digits", "3", "--yes",
                                   ok=False)
    assert "no model of yours named 'nope'" in dllab("model", "show", "nope", ok=False)
    assert "Model digits deleted" in dllab("model", "delete", "digits", "--yes")
    assert dllab("model", "list") == "(none)\n"


def test_prediction_services(logged_in, settings, live_server, tmp_path):
    dllab = logged_in
    dllab("model", "create", "digits")
    for _ in range(2):
        dllab("model", "register", "digits", "--upload", str(SAVED_MODELS / "keras_dense"))
    dllab("model", "label", "digits", "stable", "1")
    dllab("images", "add", "dllab/runtime:tf-cpu", "--version", "2.21.0")  # what `up` adds

    out = dllab("service", "create", "web", "--model", "digits", "--label", "stable", "--token")
    assert "Service web created" in out and "(starting" in out
    url = re.search(r"URL: (\S+):predict", out).group(1)
    assert url.endswith("/serving/web/v1/models/digits")
    token = re.search(r"Token: (\S+)", out).group(1)
    assert out.count(token) == 1 and "not shown again" in out
    assert "Authorization: Bearer $DLLAB_SERVICE_TOKEN" in out
    assert """-d '{"instances":[[0.0,0.0,0.0,0.0]]}'""" in out
    assert token not in dllab("service", "show", "web")
    assert "exists already" in dllab("service", "create", "web", "--model", "digits",
                                     ok=False)
    assert "no model named nope" in dllab("service", "create", "other", "--model", "nope",
                                          ok=False)
    assert "autoscale-target" in dllab("service", "create", "other", "--model", "digits",
                                       "--autoscale-max", "3", ok=False)

    listed = dllab("service", "list")
    assert "web" in listed and "starting" in listed and "version 1" in listed
    shown = dllab("service", "show", "web")
    assert "starting: a replica waits in the queue" in shown and "token required" in shown
    assert "stable: version 1, 100% of requests, 1 replica(s) wanted" in shown
    assert "UNIT" in shown and "queued" in shown

    assert "has no canary" in dllab("service", "promote", "web", ok=False)
    assert "has no canary" in dllab("service", "rollback", "web", ok=False)
    assert "serve version 1 already" in dllab("service", "canary", "web", "--version", "1",
                                              ok=False)
    out = dllab("service", "canary", "web", "--version", "2", "--weight", "20")
    assert "stable version 1 (80%), canary version 2 (20%)" in out
    assert "canary dropped, serving version 1" in dllab("service", "rollback", "web")
    dllab("service", "canary", "web", "--label", "stable", ok=False)
    dllab("service", "canary", "web")  # the newest: 2
    assert "canary promoted, serving version 2" in dllab("service", "promote", "web")

    assert "updated" in dllab("service", "update", "web", "--replicas", "2")
    assert "2 replica(s) wanted" in dllab("service", "show", "web")
    out = dllab("service", "update", "web", "--autoscale-target", "5", "--autoscale-max", "3")
    assert "updated" in out
    assert "autoscale: 1-3 replicas, rps target 5" in dllab("service", "show", "web")
    dllab("service", "update", "web", "--autoscale-off")
    assert "autoscale" not in dllab("service", "show", "web")
    assert "nothing to change" in dllab("service", "update", "web", ok=False)
    assert "no label nope" in dllab("service", "update", "web", "--label", "nope", ok=False)

    # The public endpoint: no edge proxy here, so the control plane answers it.
    settings.edge_url = live_server
    assert "needs its access token" in dllab("service", "predict", "web", "--example",
                                             ok=False)
    new = re.search(r"Token of web: (\S+)", dllab("service", "token", "web")).group(1)
    out = dllab("service", "predict", "web", "-d", '{"instances": [[1, 2, 3, 4]]}',
                "--token-value", new, ok=False)
    assert "no replica ready" in out and "HTTP 503" in out
    request = tmp_path / "request.json"
    request.write_text('{"instances": [[0, 0, 0, 0]]}')
    assert "HTTP 503" in dllab("service", "predict", "web", "-f", str(request),
                               "--label", "stable", "--token-value", new, ok=False)
    assert "not valid JSON" in dllab("service", "predict", "web", "-d", "{", ok=False)
    assert "give one of" in dllab("service", "predict", "web", ok=False)
    assert "no longer needs a token" in dllab("service", "token", "web", "--remove")
    assert "HTTP 503" in dllab("service", "predict", "web", "--example", ok=False)
    assert "No traffic measured" in dllab("service", "metrics", "web")

    assert "service web serves it" in dllab("model", "delete", "digits", "--yes", ok=False)
    out = dllab("service", "create", "idle", "--model", "digits", "--replicas", "0", "--wait")
    assert "stopped" in out and "Token" not in out
    assert "Service web deleted" in dllab("service", "delete", "web", "--yes")
    assert "no service named 'web'" in dllab("service", "show", "web", ok=False)
    assert "web" not in dllab("service", "list")
