"""The Secrets page and the S3 volumes of the environment form, in a real browser against
a live control plane (in process: no JupyterHub, so creating an environment is intercepted
in the browser and the request it would send is checked instead)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Response, Route, expect

from dllab.schemas.environments import VolumeSpec

pytestmark = pytest.mark.browser

Login = Callable[..., None]
Shot = Callable[[Page, str], None]
MakeUser = Callable[..., dict[str, str]]

ACCESS = "AKIA-e2e-access-4242"
SECRET = "s3cr3t-e2e-value-9191"
NEW_ACCESS = "AKIA-e2e-rotated-7373"
NEW_SECRET = "s3cr3t-e2e-rotated-5151"
TOKEN = "session-e2e-token-6262"
VALUES = [ACCESS, SECRET, NEW_ACCESS, NEW_SECRET, TOKEN]


def assert_no_values(page: Page) -> None:
    """No value of a secret anywhere: not shown, not in the markup (inputs included)."""
    text = page.locator("body").inner_text()
    html = page.content()
    for value in VALUES:
        assert value not in text, value
        assert value not in html, value
    for field in page.locator("input").all():
        assert field.input_value() not in VALUES


def test_secrets_are_added_listed_replaced_refused_and_deleted(
        page: Page, login: Login, admin_api: httpx.Client, shot: Shot) -> None:
    page.goto("/")
    login(page)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link")).to_contain_text(["SSH keys", "Secrets"])
    nav.get_by_role("link", name="Secrets").click()
    expect(page).to_have_url(re.compile(r"#/secrets$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Secrets")
    expect(page.get_by_text("No secrets yet")).to_be_visible()
    expect(page.get_by_text("For S3 volumes: ACCESS_KEY and SECRET_KEY")).to_be_visible()
    expect(page.get_by_label("Value of key 1")).to_have_attribute("type", "password")
    shot(page, "secrets-empty")

    # Two keys through the form: listed by name and key names, the values nowhere.
    page.get_by_label("Name").fill("minio")
    page.get_by_label("Key 1", exact=True).fill("ACCESS_KEY")
    page.get_by_label("Value of key 1").fill(ACCESS)
    page.get_by_role("button", name="Add key", exact=True).click()
    expect(page.get_by_label("Key 2", exact=True)).to_be_focused()
    expect(page.get_by_label("Value of key 2")).to_have_attribute("type", "password")
    page.get_by_label("Key 2", exact=True).fill("SECRET_KEY")
    page.get_by_label("Value of key 2").fill(SECRET)
    page.get_by_role("button", name="Add secret").click()
    expect(page.get_by_text("Secret minio added.")).to_be_visible()
    rows = page.get_by_test_id("secret-row")
    expect(rows).to_have_count(1)
    expect(rows.get_by_role("rowheader")).to_have_text("minio")
    expect(rows.get_by_test_id("secret-keys")).to_have_text("ACCESS_KEY, SECRET_KEY")
    expect(page.get_by_label("Name")).to_have_value("")
    expect(page.get_by_label("Value of key 1")).to_have_value("")
    expect(page.get_by_label("Value of key 2")).to_have_count(0)
    expect(page.get_by_text("1 secret", exact=True)).to_be_visible()
    assert_no_values(page)
    shot(page, "secrets-added")
    listed = admin_api.get("/secrets").json()
    assert [(s["name"], s["keys"]) for s in listed["data"]] == [
        ("minio", ["ACCESS_KEY", "SECRET_KEY"])]
    page.reload()
    expect(rows.get_by_test_id("secret-keys")).to_have_text("ACCESS_KEY, SECRET_KEY")
    assert_no_values(page)

    # Replace: the form takes its name and key names; every value is given again.
    rows.get_by_role("button", name="Replace secret minio").click()
    expect(page.get_by_role("heading", name="Replace secret minio")).to_be_visible()
    expect(page.get_by_label("Name")).to_have_value("minio")
    expect(page.get_by_label("Name")).not_to_be_editable()
    expect(page.get_by_label("Key 1", exact=True)).to_have_value("ACCESS_KEY")
    expect(page.get_by_label("Key 2", exact=True)).to_have_value("SECRET_KEY")
    expect(page.get_by_label("Value of key 1")).to_be_focused()
    expect(page.get_by_label("Value of key 1")).to_have_value("")
    page.get_by_label("Value of key 1").fill(NEW_ACCESS)
    page.get_by_label("Value of key 2").fill(NEW_SECRET)
    page.get_by_role("button", name="Add key", exact=True).click()
    page.get_by_label("Key 3", exact=True).fill("SESSION_TOKEN")
    page.get_by_label("Value of key 3").fill(TOKEN)
    shot(page, "secrets-replacing")
    page.get_by_role("button", name="Replace secret", exact=True).click()
    expect(page.get_by_text("Secret minio replaced.")).to_be_visible()
    expect(page.get_by_role("heading", name="Add a secret")).to_be_visible()
    expect(rows).to_have_count(1)
    expect(rows.get_by_test_id("secret-keys")).to_have_text(
        "ACCESS_KEY, SECRET_KEY, SESSION_TOKEN")
    assert_no_values(page)
    assert admin_api.get("/secrets").json()["data"][0]["keys"] == [
        "ACCESS_KEY", "SECRET_KEY", "SESSION_TOKEN"]

    # Adding the same name again: the API's 409, shown by the form, which keeps the entry.
    page.get_by_label("Name").fill("minio")
    page.get_by_label("Key 1", exact=True).fill("ACCESS_KEY")
    page.get_by_label("Value of key 1").fill(ACCESS)
    page.get_by_role("button", name="Add secret").click()
    alert = page.get_by_test_id("secret-form-message").get_by_role("alert")
    expect(alert).to_contain_text("The secret was not added")
    expect(alert).to_contain_text("you have a secret named minio already")
    expect(alert).to_contain_text("Use its Replace button")
    expect(page.get_by_label("Name")).to_have_value("minio")
    expect(rows).to_have_count(1)
    shot(page, "secrets-exists")
    page.get_by_label("Value of key 1").fill("")
    assert_no_values(page)

    # Delete asks first; Cancel keeps it.
    delete = rows.get_by_role("button", name="Delete secret minio")
    delete.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Delete secret minio?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(rows).to_have_count(1)
    delete.click()
    page.get_by_role("dialog").get_by_role("button", name="Delete secret").click()
    expect(rows).to_have_count(0)
    expect(page.get_by_text("Secret minio deleted.")).to_be_visible()
    expect(page.get_by_text("No secrets yet")).to_be_visible()
    assert admin_api.get("/secrets").json() == {"data": [], "count": 0}


def test_the_environment_form_sends_an_s3_volume(
        page: Page, login: Login, live_server: str, admin_api: httpx.Client,
        make_user: MakeUser, shot: Shot) -> None:
    image = admin_api.post("/images", json={"name": "dllab/runtime", "tag": "tf-cpu",
                                            "framework": "tensorflow",
                                            "framework_version": "2.21.0"})
    assert image.status_code == 201, image.text
    alice = make_user("alice")

    # Without a secret, an S3 volume has none to pick, and says where to add one.
    page.goto("/#/environments/new")
    login(page, "alice", "alice-password")
    expect(page.get_by_label("Image")).to_have_value("dllab/runtime:tf-cpu")
    page.get_by_role("button", name="Add volume").click()
    expect(page.get_by_label("Host path of volume 1")).to_be_visible()
    page.get_by_label("Kind of volume 1").select_option("S3")
    expect(page.get_by_label("Host path of volume 1")).to_have_count(0)
    expect(page.get_by_label("Secret of volume 1")).to_be_disabled()
    note = page.get_by_test_id("volume-secret-note")
    expect(note).to_contain_text("You have no secrets yet")
    expect(note.get_by_role("link", name="Secrets page")).to_have_attribute("href", "#/secrets")

    for name in ("minio", "other"):
        made = httpx.post(f"{live_server}/api/v1/secrets", headers=alice, timeout=10, json={
            "name": name, "data": {"ACCESS_KEY": ACCESS, "SECRET_KEY": SECRET}})
        assert made.status_code == 201, made.text

    sent: list[dict[str, Any]] = []

    def intercept(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        sent.append(route.request.post_data_json)
        route.fulfill(status=400, content_type="application/json",
                      body=json.dumps({"detail": "intercepted", "reason": "x"}))

    def posted(response: Response) -> bool:
        return response.url.endswith("/api/v1/environments") and \
            response.request.method == "POST"

    page.route("**/api/v1/environments", intercept)
    page.reload()
    page.get_by_label("Name").fill("s3-data")
    page.get_by_label("GPUs").fill("0")
    page.get_by_role("button", name="Add volume").click()
    expect(page.get_by_label("Kind of volume 1")).to_be_focused()
    expect(page.get_by_label("Kind of volume 1")).to_have_value("host")
    page.get_by_label("Kind of volume 1").select_option("S3")
    secret = page.get_by_label("Secret of volume 1")
    expect(secret).to_be_enabled()
    expect(secret.locator("option")).to_have_text(["Choose…", "minio", "other"])
    expect(page.get_by_test_id("volume-secret-note")).to_have_count(0)
    expect(page.get_by_label("Mount path of volume 1")).to_have_value("/home/dev/data")
    expect(page.get_by_label("Endpoint of volume 1")).to_have_attribute(
        "placeholder", "https://s3.example.com")
    page.get_by_label("Endpoint of volume 1").fill("http://minio.example:9000")
    page.get_by_label("Bucket of volume 1").fill("datasets")
    page.get_by_label("Prefix of volume 1").fill("mnist/")
    secret.select_option("minio")
    page.get_by_test_id("volume-row").get_by_label("Read-only").check()

    # A mount path outside /home/dev/ is refused before anything is sent.
    page.get_by_label("Mount path of volume 1").fill("/data")
    page.get_by_role("button", name="Create environment").click()
    message = page.get_by_test_id("environment-form-message")
    expect(message.get_by_role("alert")).to_contain_text("must be under /home/dev/")
    expect(page.get_by_label("Mount path of volume 1")).to_be_focused()
    assert sent == []

    page.get_by_label("Mount path of volume 1").fill("/home/dev/data")
    shot(page, "environment-form-s3-volume")
    with page.expect_response(posted):
        page.get_by_role("button", name="Create environment").click()
    expect(message.get_by_role("alert")).to_contain_text("intercepted")
    expect(message.get_by_role("alert")).to_contain_text("The environment was not created")
    expected = [{"s3": {"endpoint": "http://minio.example:9000", "bucket": "datasets",
                        "prefix": "mnist/", "secret": "minio"},
                 "mount_path": "/home/dev/data", "read_only": True}]
    assert len(sent) == 1
    assert sent[0]["volumes"] == expected
    assert {k: v for k, v in sent[0].items() if k != "volumes"} == {
        "name": "s3-data", "image": "dllab/runtime:tf-cpu", "gpus": 0}
    VolumeSpec.model_validate(expected[0])  # what the API takes

    # Back to a host path: its own fields again; the mount path typed in is kept.
    page.get_by_label("Kind of volume 1").select_option("Host path")
    expect(page.get_by_label("Bucket of volume 1")).to_have_count(0)
    expect(page.get_by_label("Mount path of volume 1")).to_have_value("/home/dev/data")
    page.get_by_label("Host path of volume 1").fill("/srv/datasets")
    with page.expect_response(posted):
        page.get_by_role("button", name="Create environment").click()
    assert len(sent) == 2
    assert sent[1]["volumes"] == [{"source": "/srv/datasets", "mount_path": "/home/dev/data",
                                   "read_only": True}]
    page.get_by_role("button", name="Remove volume 1").click()
    expect(page.get_by_test_id("volume-row")).to_have_count(0)

def test_the_environment_page_shows_an_s3_volume(page: Page, login: Login) -> None:
    now = "2026-01-01T12:00:00Z"
    env = {
        "id": "env-s3", "name": "s3-data", "owner": "admin", "image": "dllab/runtime:tf-cpu",
        "gpus": 0, "cpus": None, "memory_mib": None, "ssh_key_count": 0, "state": "stopped",
        "reason": None, "position": None, "host": None, "devices": [], "unit": None,
        "phases": [], "urls": None, "ssh": None, "created_at": now,
        "volumes": [
            {"source": None, "s3": {"bucket": "datasets", "prefix": "mnist/",
                                    "endpoint": None, "region": None, "secret": "minio"},
             "mount_path": "/home/dev/data", "read_only": True},
            {"source": "/srv/datasets", "s3": None, "mount_path": "/data",
             "read_only": False}],
    }
    page.route("**/api/v1/environments/env-s3", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(env)))
    page.goto("/#/environments/env-s3")
    login(page)
    volumes = page.get_by_test_id("environment-volume")
    expect(volumes).to_have_text([
        "s3://datasets/mnist/ → /home/dev/data (copied in at start) (read-only)",
        "/srv/datasets → /data"])
