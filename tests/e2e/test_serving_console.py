"""The console's model registry and prediction service pages in a real browser against the
whole platform (``dllab up`` with a docker agent, the runtime image with dllab-serve): a
user creates a model, registers a version by uploading a .tar.gz of a SavedModel that
TensorFlow exported (digits_export.py) and sees its signature; deploys it from the form
(first with an autoscale rule the API refuses, to see its message) with an access token,
shown once; follows the service to ``serving``; uses "Try it" (refused without the token in
TF Serving's {"error"} shape, then predictions with it) and sees the traffic charts; meets
the API's refusal of a canary of the version it serves and rotates the token; finds it in
the list; scales it to zero and deletes it; meets the API's refusal of a model name taken
and of a folder outside the allowed roots; and removes the label and the version."""

from __future__ import annotations

import re
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from console_pages import checked_page
from playwright.sync_api import Browser, Page, expect

from lab_fixture import RUNTIME_IMAGE, Lab, running_lab

pytestmark = [pytest.mark.browser, pytest.mark.docker]

Shot = Callable[[Page, str], None]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
USER, PASSWORD = "mo", "mo-password"  # what lab.add_user gives
SERVING_TIMEOUT_MS = 180_000


@pytest.fixture(scope="module")
def digits_archive(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A .tar.gz of the digits SavedModel (one folder), exported by TensorFlow in the image."""
    out = tmp_path_factory.mktemp("digits")
    out.chmod(0o777)  # the image writes as its user dev
    docker_client.containers.run(
        RUNTIME_IMAGE, ["python", "/examples/digits_export.py", "/out", "--version", "1",
                        "--epochs", "3"], remove=True,
        volumes={str(EXAMPLES): {"bind": "/examples", "mode": "ro"},
                 str(out): {"bind": "/out", "mode": "rw"}})
    archive = tmp_path_factory.mktemp("archive") / "digits.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(out / "1", arcname="digits")
    return archive


@pytest.fixture(scope="module")
def serving_lab(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(docker_client, tmp_path_factory.mktemp("serving-console"),
                     HEARTBEAT_SECONDS="1") as lab:
        yield lab


@pytest.fixture
def console(browser: Browser, serving_lab: Lab) -> Iterator[Page]:
    with checked_page(browser, serving_lab.edge) as page:
        yield page


@pytest.mark.timeout(600)
def test_register_deploy_and_try_a_model(console: Page, serving_lab: Lab, digits_archive: Path,
                                         shot: Shot) -> None:
    page = console
    serving_lab.add_user(USER)

    page.goto("/#/models")
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Models")
    expect(page.get_by_text("No models yet")).to_be_visible()

    # A model, then its first version: an upload of the exported SavedModel.
    page.get_by_label("Name").fill("digits")
    page.get_by_label("Description (optional)").fill("8x8 handwritten digits")
    page.get_by_role("button", name="Create model").click()
    expect(page).to_have_url(re.compile(r"#/models/[0-9a-f]{32}$"))
    model_id = page.url.rsplit("/", 1)[1]
    expect(page.get_by_role("heading", level=1)).to_have_text("digits")
    expect(page.get_by_test_id("model-description")).to_have_text("8x8 handwritten digits")
    expect(page.get_by_text("No versions yet")).to_be_visible()
    page.get_by_label("SavedModel (.tar.gz)").set_input_files(str(digits_archive))
    page.get_by_role("button", name="Register version").click()
    expect(page.get_by_test_id("version-form-message")).to_have_text("Version 1 registered.")
    version = page.get_by_test_id("model-version")
    expect(version).to_have_count(1)
    expect(version.get_by_role("rowheader")).to_have_text("v1")
    expect(version).to_contain_text("upload")
    tensors = version.get_by_test_id("signature").filter(has_text="serving_default") \
        .get_by_test_id("signature-tensor")
    expect(tensors.filter(has_text="pixels")).to_have_text("pixels float32 [-1, 64]")
    expect(tensors.filter(has_text="probabilities")).to_have_text(
        "probabilities float32 [-1, 10]")
    expect(tensors.filter(has_text="digit")).to_have_text("digit int64 [-1]")
    # A label on it.
    page.get_by_label("Label", exact=True).fill("stable")
    page.get_by_label("Version", exact=True).select_option("version:1")
    page.get_by_role("button", name="Set label").click()
    expect(page.get_by_test_id("model-label-item")).to_have_text(re.compile(r"^stable → v1"))
    shot(page, "model-detail")

    # The form, from the model's page: an autoscale rule the API refuses, then deployed
    # with a token, shown once.
    page.get_by_role("link", name="Deploy", exact=True).click()
    expect(page).to_have_url(re.compile(rf"#/services/new\?model={model_id}$"))
    expect(page.get_by_label("Model")).to_have_value(model_id)
    expect(page.get_by_label("Version")).to_have_value("")  # the newest
    page.get_by_label("Version").select_option("label:stable")
    page.get_by_label("Name").fill("digits-console")
    page.get_by_label("Autoscale").check()
    page.get_by_label("Min replicas").fill("3")
    page.get_by_label("Max replicas").fill("2")
    page.get_by_label("Require an access token").check()
    page.get_by_role("button", name="Deploy service").click()
    expect(page.get_by_test_id("service-form-message")).to_contain_text(
        "autoscale min (3) is above max (2)")
    shot(page, "service-form-refused")
    page.get_by_label("Autoscale").uncheck()
    page.get_by_role("button", name="Deploy service").click()
    panel = page.get_by_test_id("service-token-panel")
    expect(panel).to_contain_text("Shown only now")
    token = panel.get_by_label("The service's access token").inner_text().strip()
    assert len(token) > 20
    panel.get_by_role("button", name="Done, I have saved it").click()
    expect(page).to_have_url(re.compile(r"#/services/[0-9a-f]{32}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("digits-console")

    # Its page, live: starting, then serving on one replica of v1.
    expect(page.get_by_test_id("service-url")).to_have_text(
        f"{serving_lab.edge}/serving/digits-console/v1/models/digits:predict")
    expect(page.get_by_test_id("service-curl")).to_contain_text("Authorization: Bearer $TOKEN")
    expect(page.get_by_test_id("service-status").first).to_have_text(
        "serving", timeout=SERVING_TIMEOUT_MS)
    expect(page.get_by_test_id("service-ready")).to_have_text("1 / 1")
    expect(page.get_by_test_id("service-track")).to_have_text(
        re.compile(r"^stable\s*v1\s*100%\s*1$"))
    replica = page.get_by_test_id("service-replica")
    expect(replica).to_have_count(1)
    expect(replica.get_by_test_id("replica-state")).to_have_text("ready")
    expect(page.get_by_test_id("service-log")).not_to_be_empty()

    # Try it: the example request, refused without the token, then answered.
    request = page.get_by_label("Request (JSON)")
    expect(request).to_have_value(re.compile(r'^\{\s*"instances": \[\s*\[\s*0'))
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_test_id("try-status")).to_have_text("401 Unauthorized")
    expect(page.get_by_test_id("try-answer")).to_contain_text('"error"')
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_test_id("try-status")).to_have_text("200 OK")
    expect(page.get_by_test_id("try-answer")).to_contain_text('"predictions"')
    expect(page.get_by_test_id("try-answer")).to_contain_text('"digit"')
    # The traffic, charted from the replica's counters: the request answered shows up (its
    # latency: a point of latency needs one), on the one replica routed.
    expect(page.get_by_test_id("chart-rps").get_by_role("img")).to_have_attribute(
        "aria-label", re.compile(r"^requests/s: \d+ points"))
    expect(page.get_by_test_id("chart-p50").get_by_role("img")).to_have_attribute(
        "aria-label", re.compile(r"^latency p50 \(ms\): \d+ points"), timeout=20_000)
    expect(page.get_by_test_id("chart-replicas").locator(".chart-last")).to_have_text("1")
    shot(page, "service-serving")
    # Its controls: a canary of the version it serves is refused with the API's words; the
    # token rotated, the new one shown once.
    canary = page.get_by_role("form", name="Canary")
    canary.get_by_label("Version").select_option("version:1")
    canary.get_by_role("button", name="Start canary").click()
    expect(page.get_by_test_id("service-manage-message")).to_contain_text(
        "the stable replicas serve version 1 already")
    page.get_by_role("button", name="Rotate token").click()
    page.get_by_role("dialog").get_by_role("button", name="Rotate token").click()
    rotated = page.get_by_test_id("service-token-panel")
    expect(rotated).to_contain_text("Shown only now")
    assert rotated.get_by_label("The service's access token").inner_text().strip() != token
    expect(page.get_by_test_id("service-manage-message")).to_have_text("Token rotated.")

    # The list, then delete it from its page.
    page.get_by_role("link", name="← Services").click()
    row = page.get_by_test_id("service-row")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("service-status")).to_have_text("serving")
    expect(row.get_by_test_id("service-tracks")).to_have_text("v1 100%")
    expect(row.get_by_test_id("service-ready")).to_have_text("1 / 1")
    expect(row).to_contain_text("token required")
    shot(page, "services-list")
    row.get_by_role("link", name="digits-console").click()
    scale = page.get_by_role("form", name="Scale")
    scale.get_by_label("Replicas").fill("0")
    scale.get_by_role("button", name="Scale").click()
    expect(page.get_by_test_id("service-status").first).to_have_text("stopped",
                                                                    timeout=60_000)
    expect(page.get_by_test_id("service-ready")).to_have_text("0 / 0")
    page.get_by_role("button", name="Delete service digits-console").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete service").click()
    expect(page).to_have_url(re.compile(r"#/services$"))
    expect(page.get_by_role("status").filter(has_text="Service digits-console deleted.")) \
        .to_be_visible()
    expect(page.get_by_text("No services yet")).to_be_visible()

    # The models list: the model with its version and label; a name taken is refused.
    page.get_by_role("link", name="Models", exact=True).click()
    row = page.get_by_test_id("model-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("digits")
    expect(row.get_by_test_id("model-label")).to_have_text("stable → v1")
    page.get_by_label("Name").fill("digits")
    page.get_by_role("button", name="Create model").click()
    expect(page.get_by_test_id("model-form-message")).to_contain_text(
        "you already have a model named digits")
    shot(page, "models-list")

    # Its page again, no longer served: a folder outside the allowed roots is refused, the
    # label removed, the version deleted.
    row.get_by_role("link", name="digits").click()
    page.get_by_label("A folder on the hosts").check()
    page.get_by_label("Folder on the hosts", exact=True).fill("/etc")
    page.get_by_role("button", name="Register version").click()
    expect(page.get_by_test_id("version-form-message")).to_contain_text(
        "model folder /etc is outside the allowed roots")
    page.get_by_label("A job's output").check()
    expect(page.get_by_label("Job", exact=True)).to_contain_text("You have no jobs")
    page.get_by_role("button", name="Remove label stable").click()
    expect(page.get_by_test_id("model-label-item")).to_have_count(0)
    page.get_by_role("button", name="Delete version 1").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete version").click()
    expect(page.get_by_text("No versions yet")).to_be_visible()
