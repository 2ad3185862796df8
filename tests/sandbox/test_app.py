"""The sandbox app as a whole: its home page, unknown paths, and how it is put together."""

from __future__ import annotations

from html import unescape

import httpx
import pytest

from clever_sandbox import create_sandbox_app
from clever_sandbox.config import SandboxConfig
from tests.sandbox.asgi import local_sandbox


async def test_home_page_says_what_this_is_and_links_to_the_picker() -> None:
    async with local_sandbox() as local:
        home = await local.http.get("/")
        assert home.status_code == 200
        assert home.headers["content-type"].startswith("text/html")
        assert "Clever sandbox" in home.text
        assert "<h1>Clever <span" in home.text, "the badge says sandbox; the heading does not say it again"
        hrefs = [unescape(h) for h in home.text.split('href="')[1:]]
        picker_href = next(h.split('"')[0] for h in hrefs if h.startswith("oauth/authorize?"))

        picker = await local.http.get(f"/{picker_href}")

        assert picker.status_code == 200
        assert all(d.label in unescape(picker.text) for d in local.sandbox.store.demo_logins())


async def test_unknown_paths_get_clevers_html_not_found() -> None:
    async with local_sandbox() as local:
        response = await local.http.get("/v9/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


async def test_each_app_is_a_sandbox_of_its_own() -> None:
    first = create_sandbox_app(SandboxConfig(seed=1))
    second = create_sandbox_app(SandboxConfig(seed=1))
    assert first.state.sandbox is not second.state.sandbox
    assert first.state.sandbox.keys.kid != second.state.sandbox.keys.kid
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url="http://a") as http:
        token = first.state.sandbox.tokens.district_token(
            first.state.sandbox.store.district_ids()[0], first.state.sandbox.config.client_id
        )
        assert (await http.get("/v3.0/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    assert second.state.sandbox.tokens.lookup(token) is None


def test_a_sandbox_needs_a_redirect_uri() -> None:
    with pytest.raises(ValueError, match="redirect URI"):
        create_sandbox_app(SandboxConfig(redirect_uris=()))


async def test_a_favicon_for_every_page() -> None:
    async with local_sandbox() as local:
        icon = await local.http.get("/favicon.ico")
        home = await local.http.get("/")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.text.startswith("<svg")
    # Inline in the pages themselves, so even the pages under /oauth/ need no request for it.
    assert '<link rel="icon" href="data:image/svg+xml,' in home.text
