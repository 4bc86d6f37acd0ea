"""The console's environment pages in a real browser against the whole platform (``lab``:
``dllab up`` with the edge proxy, JupyterHub and a docker agent with 4 simulated GPUs).

A user signs in through the console's form, creates an environment with the form (a
request the API refuses first, to see its message), watches the row reach ``running``,
opens JupyterLab through the hub, looks at the environment's page, follows JupyterHub's
login redirect in a browser that was not signed in, and deletes it."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from console_pages import checked_page, new_context
from playwright.sync_api import Browser, Page, expect

from lab_fixture import Lab

pytestmark = [pytest.mark.browser, pytest.mark.docker]

Shot = Callable[[Page, str], None]

USER = "ann"
PASSWORD = f"{USER}-password"  # what lab.add_user gives
IMAGE = "dllab/runtime:tf-cpu"
START_TIMEOUT_MS = 120_000
JUPYTER_TIMEOUT_MS = 90_000


@pytest.fixture
def console(browser: Browser, lab: Lab) -> Iterator[Page]:
    """A page on the edge (the console, the API and JupyterHub on one origin)."""
    with checked_page(browser, lab.edge) as page:
        yield page


def sign_in(page: Page, username: str = USER, password: str = PASSWORD) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def expect_jupyterlab(page: Page) -> None:
    page.wait_for_selector("#jp-main-dock-panel", timeout=JUPYTER_TIMEOUT_MS)
    expect(page).to_have_title(re.compile("JupyterLab"), timeout=JUPYTER_TIMEOUT_MS)


@pytest.mark.parametrize(("username", "next_url"), [
    ("eve1", "//evil.example/jupyter/"),
    ("eve2", "https://evil.example/jupyter/"),
    ("eve3", "/jupyter/\\evil.example/"),
    ("eve4", "/jupyter/../x"),
])
def test_login_never_redirects_off_the_console(
        console: Page, lab: Lab, username: str, next_url: str) -> None:
    """Only a path under /jupyter/ on this origin is followed after signing in. (Before the
    long test below: twice in CI, the first page opened right after it deleted its
    environment never received some of the console's modules.)"""
    page = console
    lab.add_user(username).close()
    page.goto(f"/#/login?next={quote(next_url, safe='')}")
    sign_in(page, username, f"{username}-password")
    expect(page.get_by_test_id("user-name")).to_have_text(username)
    expect(page).to_have_url(f"{lab.edge}/#/environments")


@pytest.mark.timeout(900)
def test_create_open_and_delete_an_environment(
        console: Page, browser: Browser, lab: Lab, tmp_path: Path, shot: Shot) -> None:
    page = console
    api = lab.add_user(USER)
    key_file = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ann@e2e",
                    "-f", str(key_file)], check=True, capture_output=True)
    answer = api.put("/api/v1/users/me/ssh-keys",
                     json={"keys": [key_file.with_suffix(".pub").read_text().strip()]})
    assert answer.status_code == 200, answer.text
    try:
        # Not signed in: the login form, then the page asked for.
        page.goto("/#/environments")
        expect(page).to_have_url(re.compile(r"#/login\?next=%2Fenvironments$"))
        sign_in(page)
        expect(page.get_by_test_id("user-name")).to_have_text(USER)
        expect(page).to_have_url(re.compile(r"#/environments$"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Environments")
        nav = page.get_by_role("navigation", name="Main")
        expect(nav.get_by_role("link", name="Environments")).to_have_attribute(
            "aria-current", "page")
        expect(page.get_by_text("No environments yet")).to_be_visible()
        shot(page, "environments-empty")

        # The form: the image select is filled from the catalogue.
        page.get_by_role("link", name="New environment").click()
        expect(page).to_have_url(re.compile(r"#/environments/new$"))
        expect(nav.get_by_role("link", name="Environments")).to_have_attribute(
            "aria-current", "page")
        image = page.get_by_label("Image")
        expect(image.locator(f'option[value="{IMAGE}"]')).to_have_count(1)
        expect(page.get_by_test_id("ssh-note")).to_contain_text(
            "Your profile's 1 SSH key is let in")
        expect(page.get_by_test_id("ssh-note").get_by_role("link", name="SSH keys page")
               ).to_have_attribute("href", "#/ssh-keys")
        page.get_by_label("Name").fill("mnist")
        image.select_option(IMAGE)
        # More GPUs than any host has: the API's message, next to the form.
        page.get_by_label("GPUs").fill("5")
        shot(page, "environment-form")
        page.get_by_role("button", name="Create environment").click()
        alert = page.get_by_test_id("environment-form-message").get_by_role("alert")
        expect(alert).to_contain_text("The environment was not created")
        expect(alert).to_contain_text("5 GPUs asked for, but the largest host has 4")
        expect(page).to_have_url(re.compile(r"#/environments/new$"))
        shot(page, "environment-form-refused")

        # A volume outside the roots the admin allows (none here): refused too.
        page.get_by_label("GPUs").fill("1")
        page.get_by_role("button", name="Add volume").click()
        page.get_by_label("Host path of volume 1").fill("/srv/datasets")
        page.get_by_label("Mount path of volume 1").fill("/data")
        page.get_by_test_id("volume-row").get_by_label("Read-only").check()
        page.get_by_role("button", name="Create environment").click()
        expect(alert).to_contain_text("volume /srv/datasets is outside the allowed roots")
        shot(page, "environment-form-volume-refused")
        page.get_by_role("button", name="Remove volume 1").click()
        expect(page.get_by_test_id("volume-row")).to_have_count(0)

        page.get_by_role("button", name="Create environment").click()
        expect(page).to_have_url(re.compile(r"#/environments$"))
        expect(page.get_by_text("Environment mnist created")).to_be_visible()
        row = page.get_by_test_id("environment-row").filter(has_text="mnist")
        expect(row).to_have_count(1)
        expect(row).to_contain_text(IMAGE)
        shot(page, "environment-created")

        # Live: the row reaches running without a reload, with its GPU and its links.
        expect(row.get_by_test_id("environment-state")).to_have_text(
            "running", timeout=START_TIMEOUT_MS)
        envs = api.get("/api/v1/environments").json()["data"]
        assert [e["name"] for e in envs] == ["mnist"], envs
        env: dict[str, Any] = envs[0]
        assert env["state"] == "running", env
        gpu = env["devices"][0]
        expect(row).to_contain_text(f"{gpu['index']}→0")
        expect(row.get_by_role("link", name="TensorBoard of mnist")).to_have_attribute(
            "href", env["urls"]["tensorboard"])
        assert env["ssh"], env
        expect(row.get_by_test_id("environment-ssh")).to_have_text(env["ssh"]["command"])
        expect(row.get_by_role("button", name="Copy")).to_be_visible()
        open_jupyter = row.get_by_role("link", name="Open Jupyter of mnist")
        expect(open_jupyter).to_have_attribute("href", env["urls"]["jupyter"])
        shot(page, "environment-running")

        # Open Jupyter: JupyterLab through the hub, in a new tab, signed in by the console.
        with page.context.expect_page() as opened:
            open_jupyter.click()
        lab_page = opened.value
        expect_jupyterlab(lab_page)
        assert f"/jupyter/user/{USER}/mnist/" in lab_page.url, lab_page.url
        shot(lab_page, "jupyterlab")
        lab_page.close()

        # Its page: state, GPU mapping, the phases of the start, links and the log.
        row.get_by_role("link", name="mnist", exact=True).click()
        expect(page).to_have_url(re.compile(rf"#/environments/{env['id']}$"))
        expect(page.get_by_role("heading", level=1)).to_have_text("mnist")
        expect(page.get_by_test_id("environment-state").first).to_have_text("running")
        expect(page.get_by_test_id("environment-gpu")).to_have_text(
            re.compile(rf"GPU {gpu['index']} → seen as 0"))
        expect(page.get_by_test_id("environment-gpu").get_by_test_id("gpu-simulated")
               ).to_be_visible()
        phases = page.get_by_test_id("phase")
        expect(phases).to_have_count(5)
        expect(phases.last).to_contain_text("ready")
        expect(phases.last).to_contain_text(re.compile(r"\+\d+\.\d s"))
        expect(page.get_by_role("link", name="Open Jupyter of mnist")).to_be_visible()
        log = page.get_by_test_id("environment-log")
        expect(log).to_contain_text(re.compile(r"\S"))
        expect(log).not_to_contain_text("Could not load the log")
        page.get_by_role("button", name="Refresh log").click()
        expect(log).not_to_contain_text("Could not load the log")
        shot(page, "environment-detail")

        # Stop and start again, from its page: a new unit on the kept workspace.
        state = page.get_by_test_id("environment-state").first
        page.get_by_role("button", name="Stop environment mnist").click()
        expect(state).to_have_text("stopped", timeout=60_000)
        expect(page.get_by_role("link", name="Open Jupyter of mnist")).to_have_count(0)
        expect(page.get_by_test_id("environment-gpu")).to_have_count(0)
        shot(page, "environment-stopped")
        page.get_by_role("button", name="Start environment mnist").click()
        expect(state).to_have_text("running", timeout=START_TIMEOUT_MS)
        restarted = api.get(f"/api/v1/environments/{env['id']}").json()
        assert restarted["unit"] != env["unit"], restarted
        expect(page.get_by_text(f"last 200 lines of unit {restarted['unit']}")).to_be_visible()

        # JupyterHub sends a browser that is not signed in to the console's login form;
        # after signing in it is back in JupyterLab.
        other = new_context(browser, lab.edge)
        try:
            stranger = other.new_page()
            stranger.goto(env["urls"]["jupyter"])
            expect(stranger).to_have_url(re.compile(
                r"#/login\?next=" + re.escape(quote("/jupyter/", safe=""))))
            shot(stranger, "jupyter-login-redirect")
            sign_in(stranger)
            expect_jupyterlab(stranger)
            assert f"/jupyter/user/{USER}/mnist/" in stranger.url, stranger.url
        finally:
            other.close()

        # Delete, from the list, after confirming.
        page.get_by_role("link", name="← Environments").click()
        expect(page).to_have_url(re.compile(r"#/environments$"))
        row.get_by_role("button", name="Delete environment mnist").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("Delete environment mnist?")
        shot(page, "environment-delete-dialog")
        dialog.get_by_role("button", name="Delete environment").click()
        expect(row).to_have_count(0, timeout=60_000)
        expect(page.get_by_text("Environment mnist deleted.")).to_be_visible()
        expect(page.get_by_text("No environments yet")).to_be_visible()
        assert api.get("/api/v1/environments").json()["count"] == 0
        shot(page, "environment-deleted")
    finally:
        api.close()
