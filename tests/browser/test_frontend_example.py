"""examples/frontend in Chromium: a partner's own page on its own origin, logging in through the
sandbox and out again against the dev stack started as `clever-login dev --frontend-url` would."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.browser.chromium import OUTPUT
from tests.browser.test_demo_page import full_name, picker_label
from tests.support.demo import demo_user
from tests.support.devstack import RunningStack, running_dev_stack

# After test_demo_page, which skips this module too when playwright or Chromium is missing.
from playwright.async_api import BrowserContext, expect  # isort: skip

pytestmark = pytest.mark.asyncio(loop_scope="module")

FRONTEND = Path(__file__).resolve().parents[2] / "examples" / "frontend"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serving_frontend() -> Iterator[str]:
    """examples/frontend as plain static files on a port of its own; yields its base URL."""
    handler = functools.partial(QuietHandler, directory=str(FRONTEND))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def frontend_and_stack(redis_url: str, key_prefix: str) -> Iterator[tuple[str, RunningStack]]:
    with (
        serving_frontend() as frontend,
        running_dev_stack(redis_url, key_prefix=key_prefix, frontend_url=frontend) as stack,
    ):
        yield frontend, stack


async def test_ones_own_frontend_logs_in_and_out_through_the_backend(
    context: BrowserContext, frontend_and_stack: tuple[str, RunningStack]
) -> None:
    frontend, stack = frontend_and_stack
    page_url = f"{frontend}?{urlencode({'backend': stack.backend_url})}"
    teacher = demo_user(stack.store, "teacher")
    page = await context.new_page()

    await page.goto(page_url)
    await expect(page.get_by_role("status")).to_have_text("Not signed in.")  # the 401, handled
    login = page.get_by_role("link", name="Log in with Clever")
    assert await login.get_attribute("href") == (
        f"{stack.backend_url}/auth/login?{urlencode({'return_to': page_url})}"
    )
    await login.click()
    await page.wait_for_url(f"{stack.sandbox_url}/oauth/authorize?*")
    await page.get_by_role("link", name=picker_label(stack, teacher)).click()

    await page.wait_for_url(page_url)  # back on the page the login started from (return_to)
    await expect(page.get_by_role("status")).to_have_text(f"Signed in as {full_name(teacher)}.")
    await page.screenshot(path=OUTPUT / "frontend-example-signed-in.png")

    async with page.expect_request(f"{stack.backend_url}/auth/logout") as sent:
        await page.get_by_role("button", name="Log out").click()
    logout = await sent.value
    assert await logout.header_value("x-requested-with") == "fetch"  # the CSRF header
    assert await logout.header_value("origin") == frontend.rstrip("/")
    await expect(page.get_by_role("status")).to_have_text("Not signed in.")
    await page.reload()
    await expect(page.get_by_role("status")).to_have_text("Not signed in.")  # ended at the backend


async def test_a_backend_that_cannot_be_reached_reads_as_such(
    context: BrowserContext, frontend_and_stack: tuple[str, RunningStack]
) -> None:
    frontend, _ = frontend_and_stack
    page = await context.new_page()
    await page.goto(f"{frontend}?{urlencode({'backend': 'http://127.0.0.1:9'})}")
    await expect(page.get_by_role("status")).to_have_text(
        "The login service cannot be reached; try again soon."
    )
    await expect(page.get_by_role("link", name="Log in with Clever")).to_be_visible()
