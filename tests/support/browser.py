"""A test browser: keeps cookies per host and walks a login across the backend and the sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from clever_sandbox.store import SandboxStore
from tests.support.demo import demo_user


@dataclass
class Step:
    response: httpx.Response

    @property
    def location(self) -> str:
        return str(self.response.headers.get("location", ""))

    @property
    def query(self) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(urlsplit(self.location).query).items()}


class Browser:
    """One browser: an httpx client with its own cookie jar, following no redirects by itself."""

    def __init__(self, backend_url: str) -> None:
        self.backend_url = backend_url
        self.http = httpx.AsyncClient(follow_redirects=False, timeout=30)

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def get(self, url: str, **kwargs: object) -> Step:
        return Step(await self.http.get(url, **kwargs))  # type: ignore[arg-type]

    async def start_login(self, **params: str) -> Step:
        """`/auth/login`: answers the redirect to Clever's authorize page."""
        query = f"?{urlencode(params)}" if params else ""
        return await self.get(f"{self.backend_url}/auth/login{query}")

    async def sign_in_at_clever(self, authorize_url: str, user_id: str) -> Step:
        """Clever's authorize page, picking `user_id`: answers the redirect to the callback."""
        # Appended by hand: httpx replaces a URL's whole query when given `params`.
        return await self.get(f"{authorize_url}&{urlencode({'login_hint': user_id})}")

    async def callback(self, clever_redirect: str) -> Step:
        """Follow Clever's redirect to the callback, on the backend's real address."""
        query = urlsplit(clever_redirect).query
        return await self.get(f"{self.backend_url}/auth/callback?{query}")

    async def login(self, user_id: str, **params: str) -> Step:
        """The whole login; answers the callback's response (normally a redirect to return_to)."""
        start = await self.start_login(**params)
        assert start.response.status_code == 302, start.response.text
        clever = await self.sign_in_at_clever(start.location, user_id)
        assert clever.response.status_code == 302, clever.response.text
        return await self.callback(clever.location)

    async def clever_redirect(self, user_id: str, **params: str) -> str:
        """Start a login and sign in at Clever: answers Clever's redirect to the callback, not followed."""
        start = await self.start_login(**params)
        clever = await self.sign_in_at_clever(start.location, user_id)
        assert clever.response.status_code == 302, clever.response.text
        return clever.location

    def restart(self) -> None:
        """Close and reopen the browser: its session cookies go, persistent ones stay."""
        self.http.cookies.jar.clear_session_cookies()

    async def session(self) -> httpx.Response:
        return await self.http.get(f"{self.backend_url}/auth/session")


@asynccontextmanager
async def logged_in_browser(backend_url: str, store: SandboxStore, kind: str) -> AsyncIterator[Browser]:
    """A browser in which the sandbox's first demo user of `kind` has just logged in."""
    async with Browser(backend_url) as browser:
        await browser.login(demo_user(store, kind)["id"])
        yield browser


@asynccontextmanager
async def back_from_clever(
    backend_url: str, store: SandboxStore, kind: str
) -> AsyncIterator[tuple[Browser, str]]:
    """A browser whose login of the sandbox's first demo user of `kind` is back from Clever's
    authorize page: the browser and Clever's redirect to the callback, not yet followed."""
    async with Browser(backend_url) as browser:
        yield browser, await browser.clever_redirect(demo_user(store, kind)["id"])


async def logged_in_principal(backend_url: str, user_id: str) -> dict[str, Any]:
    """What `/auth/session` answers in a new browser right after a login of `user_id`."""
    async with Browser(backend_url) as browser:
        landed = await browser.login(user_id)
        assert landed.response.status_code == 302, landed.response.text
        answer = await browser.session()
    assert answer.status_code == 200
    principal: dict[str, Any] = answer.json()
    return principal
