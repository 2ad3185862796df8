"""One Chromium per test module, a fresh profile per test. Each module skips itself first when
playwright or Debian's Chromium is missing, so playwright is imported here only once a fixture
is asked for."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest_asyncio

from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium() -> AsyncIterator[Browser]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest_asyncio.fixture(loop_scope="module")
async def context(chromium: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile per test: no cookies, no storage."""
    context = await chromium.new_context()
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        await context.close()
