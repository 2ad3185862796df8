"""CLEVER_PKCE against a sandbox that ignores PKCE (as Clever, which documents none) and one that
enforces it (SECURITY.md, requirement 3; README, "Sandbox modes")."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from app.settings import load_settings
from tests.conftest import RunningSandbox
from tests.support.backend import backend_on
from tests.support.browser import Browser
from tests.support.demo import demo_user


def _query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


@pytest.mark.parametrize("pkce", ["true", "false"])
async def test_login_works_with_pkce_on_or_off_whether_the_server_ignores_or_enforces_it(
    pkce_sandbox: RunningSandbox, redis_url: str, key_prefix: str, pkce: str
) -> None:
    teacher = demo_user(pkce_sandbox.sandbox.store, "teacher")
    settings = {"CLEVER_PKCE": pkce}
    with backend_on(pkce_sandbox, redis_url=redis_url, key_prefix=key_prefix, extra=settings) as backend:
        async with Browser(backend) as browser:
            start = await browser.start_login()
            query = _query(start.location)
            if pkce == "true":
                assert query["code_challenge_method"] == "S256"
                assert len(query["code_challenge"]) == 43
            else:
                assert "code_challenge" not in query
                assert "code_challenge_method" not in query
            clever = await browser.sign_in_at_clever(start.location, teacher["id"])
            landed = await browser.callback(clever.location)
            assert landed.response.status_code == 302, landed.response.text
            assert (await browser.session()).json()["user"]["id"] == teacher["id"]


@pytest.mark.parametrize(("raw", "expected"), [(None, True), ("true", True), ("false", False)])
def test_clever_pkce_is_on_unless_set_false(raw: str | None, expected: bool) -> None:
    environment = {
        "CLEVER_CLIENT_ID": "client-id",
        "CLEVER_CLIENT_SECRET": "client-secret-value",
        "CLEVER_REDIRECT_URI": "https://login.example.org/auth/callback",
        "FRONTEND_URL": "https://app.example.org/home",
        "SESSION_SECRET": "q8Zr1vLk0pXw3nT6yH9bS2dF5gJ7mC4a",
        **({"CLEVER_PKCE": raw} if raw is not None else {}),
    }
    assert load_settings(environment, require_redis=False).clever_pkce is expected
