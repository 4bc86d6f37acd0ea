"""Browser tests of the console: a live control plane and Chromium driven by Playwright.

Fixtures (besides ``live_server``, ``make_user`` and ``agent_host`` of tests/conftest.py):

``database_url``  SQLite only here (overrides the SQLite/PostgreSQL pair of tests/conftest.py)
``admin_api``     an ``httpx.Client`` on ``/api/v1`` logged in as the first admin (bearer)
``browser``       one headless Chromium per test module (Debian's, via ``chromium_path``)
``page``          a fresh browser context and page per test
``login``         ``login(page, "admin", password)``: signs in through the form

``shot``          ``shot(page, "name")`` saves a PNG in ``DLLAB_E2E_SCREENSHOTS`` when set
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from console_pages import checked_page
from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Playwright's default of 30 s hides a hang for long; the console answers in milliseconds.
EXPECT_TIMEOUT_MS = 10_000

expect.set_options(timeout=EXPECT_TIMEOUT_MS)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'dllab.db'}"


@pytest.fixture
def admin_api(live_server: str, admin_password: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{live_server}/api/v1", timeout=10) as client:
        answer = client.post("/auth/token",
                             data={"username": "admin", "password": admin_password})
        assert answer.status_code == 200, answer.text
        client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        yield client


# Module scope: Playwright's sync API keeps an event loop running while it is open, which
# would break asyncio.run() in every test collected after this folder.
@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser, live_server: str) -> Iterator[Page]:
    with checked_page(browser, live_server) as checked:
        yield checked


@pytest.fixture
def login(admin_password: str) -> Callable[..., None]:
    def sign_in(page: Page, username: str = "admin", password: str | None = None) -> None:
        password = admin_password if password is None else password
        if page.url == "about:blank":
            page.goto("/#/login")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_test_id("user-name")).to_have_text(username)

    return sign_in


@pytest.fixture
def shot() -> Callable[[Page, str], None]:
    """``shot(page, "name")``: a full-page PNG in ``DLLAB_E2E_SCREENSHOTS`` when it is set."""
    folder = os.environ.get("DLLAB_E2E_SCREENSHOTS")

    def save(page: Page, name: str) -> None:
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)

    return save
