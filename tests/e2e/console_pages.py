"""Browser pages for the console tests: a fresh context on a base URL, and a page in it
whose JavaScript errors fail the test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

from playwright.sync_api import Browser, BrowserContext, Page, Request
from playwright.sync_api import Error as PlaywrightError


def new_context(browser: Browser, base_url: str) -> BrowserContext:
    return browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 860})


@contextmanager
def checked_page(browser: Browser, base_url: str) -> Iterator[Page]:
    """A page in a fresh context on ``base_url``; JavaScript errors in it fail the test.
    When the test fails, its error also gets those errors, what the page could not load
    (failed requests, 4xx and 5xx answers, the browser console's errors), the requests
    still unanswered, and the page's text: a console that never rendered says nothing of
    why by itself."""
    context = new_context(browser, base_url)
    page = context.new_page()
    errors: list[str] = []
    unloaded: list[str] = []
    pending: dict[Request, str] = {}
    page.on("request", lambda request: pending.__setitem__(
        request, f"{request.method} {request.url}"))
    page.on("requestfinished", lambda request: pending.pop(request, None))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and unloaded.append(
        f"console: {message.text}"))
    page.on("requestfailed", lambda request: unloaded.append(
        f"{pending.pop(request, request.url)}: {request.failure}"))
    page.on("response", lambda response: response.status >= 400 and unloaded.append(
        f"{response.request.method} {response.url}: {response.status}"))
    try:
        yield page
    except Exception as exc:
        if errors:
            exc.add_note(f"JavaScript errors in the console: {errors}")
        if unloaded:
            exc.add_note("what the page could not load: " + "; ".join(unloaded))
        if pending:
            exc.add_note("requests still unanswered: " + "; ".join(pending.values()))
        with suppress(PlaywrightError):  # a page that crashed has nothing more to say
            exc.add_note(f"the page at {page.url} read: {page.inner_text('body')[:300]!r}")
        raise
    finally:
        context.close()
    assert not errors, f"JavaScript errors in the console: {errors}"
