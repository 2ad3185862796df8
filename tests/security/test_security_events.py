"""Security events (SECURITY.md, requirement 40): each refused attempt leaves one structured log record with a
stable event name and code, and nothing the client sent."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.conftest import RunningSandbox
from tests.support.browser import Browser
from tests.support.demo import demo_user

STATE = "S" * 43


def _events(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [
        (str(getattr(r, "event", "")), str(getattr(r, "code", "")))
        for r in caplog.records
        if r.name.startswith("app") and getattr(r, "event", None)
    ]


@pytest.mark.parametrize(
    ("path", "event"),
    [
        ("/auth/callback?code=a&state=short", ("login_rejected", "invalid_request")),
        (f"/auth/callback?code=a&state={STATE}", ("login_rejected", "login_expired")),
        ("/auth/login?return_to=//evil.example", ("login_rejected", "invalid_return_to")),
        ("/auth/login?district_id=../x", ("login_rejected", "invalid_district")),
        ("/auth/callback?error=access_denied", ("login_failed", "login_cancelled")),
        ("/auth/callback?error=server_error", ("login_failed", "clever_denied")),
    ],
)
async def test_a_refused_login_request_is_one_security_event(
    path: str, event: tuple[str, str], shared_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="app"):
        async with httpx.AsyncClient() as client:
            answer = await client.get(f"{shared_backend}{path}")
    assert 400 <= answer.status_code < 500
    assert _events(caplog) == [event]
    ours = [record for record in caplog.records if record.name.startswith("app")]
    assert "evil.example" not in repr([record.__dict__ for record in ours])


async def test_a_csrf_refusal_is_one_security_event_without_the_origin(
    logged_in: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="app"):
        answer = await logged_in.http.post(
            f"{logged_in.backend_url}/auth/logout", headers={"Origin": "https://evil.example"}
        )
    assert answer.status_code == 403
    assert _events(caplog) == [("csrf_rejected", "csrf_header_missing")]
    ours = [record for record in caplog.records if record.name.startswith("app")]
    assert "evil.example" not in repr([record.__dict__ for record in ours])


async def test_a_successful_login_is_logged_as_such(
    sandbox_server: RunningSandbox, shared_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    user = demo_user(sandbox_server.sandbox.store, "teacher")
    with caplog.at_level(logging.INFO, logger="app"):
        async with Browser(shared_backend) as browser:
            await browser.login(user["id"])
    assert ("login_succeeded", "") in _events(caplog)


async def test_logout_clears_the_cache_and_the_cookie(logged_in: Browser) -> None:
    answer = await logged_in.http.post(
        f"{logged_in.backend_url}/auth/logout", headers={"X-Requested-With": "x"}
    )
    assert answer.status_code == 204
    assert answer.headers["clear-site-data"] == '"cache"'
    assert "max-age=0" in answer.headers["set-cookie"].lower()
    assert (await logged_in.session()).status_code == 401
