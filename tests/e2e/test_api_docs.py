"""The OpenAPI pages render in a browser with nothing fetched from outside (no CDN)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_swagger_ui_renders_every_resource_offline(page: Page, live_server: str) -> None:
    foreign: list[str] = []
    page.on("request", lambda request: None if request.url.startswith(live_server)
            else foreign.append(request.url))
    page.goto("/docs")
    # Swagger UI fetches and lays out the whole ~125 KB spec before it draws any tag: seconds
    # on a busy two-core CI machine, so the first tag gets longer than the default 10 s.
    expect(page.locator("#operations-tag-auth")).to_be_visible(timeout=45_000)
    for tag in ("auth", "users", "tokens", "hosts", "units", "agent", "health"):
        expect(page.locator(f"#operations-tag-{tag}")).to_be_visible()
    expect(page.locator("#operations-units-units-create_unit")).to_be_visible()
    assert foreign == []
