"""What a person does on the demo partner page, done with a test browser: log in (or come in
from a Clever Portal launch), read the session as the page does, log out."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from app.clever.http import origin_of
from tests.support.browser import Browser


async def log_in_through_the_demo_page(demo_url: str, user_id: str) -> dict[str, Any]:
    """The whole login the page's button starts; answers the Principal the page then reads."""
    async with Browser("") as browser:
        page = await browser.http.get(demo_url)
        assert page.status_code == 200
        assert "Log in with Clever" in page.text
        config = (await browser.http.get(demo_url + "config.json")).json()
        browser.backend_url = config["backend_url"]
        landed = await browser.login(user_id, return_to=demo_url)
        assert landed.response.status_code == 302, landed.response.text
        assert landed.location == demo_url
        principal = await _session_as_the_page(browser, demo_url)
        await _log_out_as_the_page(browser, demo_url)
        return principal


async def come_in_from_the_portal(demo_url: str, user_id: str) -> dict[str, Any]:
    """A Clever Portal launch from the sandbox, ending on the demo page with a session."""
    async with Browser("") as browser:
        config = (await browser.http.get(demo_url + "config.json")).json()
        browser.backend_url = config["backend_url"]
        query = urlencode({"client_id": config["client_id"], "login_hint": user_id})
        step = await browser.get(f"{config['sandbox_url']}/oauth/instant-login?{query}")
        for _ in range(4):  # sandbox -> callback -> sandbox again (bound to us) -> callback -> page
            assert step.response.status_code == 302, step.response.text
            if step.location == demo_url:
                break
            step = await browser.get(step.location)
        assert step.location == demo_url
        principal = await _session_as_the_page(browser, demo_url)
        await _log_out_as_the_page(browser, demo_url)
        return principal


async def _session_as_the_page(browser: Browser, demo_url: str) -> dict[str, Any]:
    origin = origin_of(demo_url)
    answer = await browser.http.get(f"{browser.backend_url}/auth/session", headers={"Origin": origin})
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == origin
    assert answer.headers["access-control-allow-credentials"] == "true"
    principal: dict[str, Any] = answer.json()
    return principal


async def _log_out_as_the_page(browser: Browser, demo_url: str) -> None:
    headers = {"Origin": origin_of(demo_url), "X-Requested-With": "fetch"}
    preflight = await browser.http.options(
        f"{browser.backend_url}/auth/logout",
        headers={
            "Origin": headers["Origin"],
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-requested-with",
        },
    )
    assert preflight.status_code == 204
    logout = await browser.http.post(f"{browser.backend_url}/auth/logout", headers=headers)
    assert logout.status_code == 204, logout.text
    after = await browser.http.get(
        f"{browser.backend_url}/auth/session", headers={"Origin": headers["Origin"]}
    )
    assert after.status_code == 401
    assert after.json()["error"] == "no_session"
