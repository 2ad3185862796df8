"""Open redirects through `return_to`: a corpus of payloads, checked against the validator and
against the running `/auth/login`."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from redis.asyncio import Redis

from app.clever.http import origin_of
from app.login.returnto import safe_return_to
from tests.conftest import BackendFactory, RunningSandbox
from tests.security.conftest import error_code
from tests.security.redirect_corpus import ACCEPTED, ALLOWED, EVIL, PAYLOADS
from tests.support.browser import Browser
from tests.support.demo import demo_user

FRONTEND_URL = "http://127.0.0.1:5173/home"
ALLOWED_ORIGINS = frozenset({ALLOWED, origin_of(FRONTEND_URL)})


def _validate(candidate: str) -> str | None:
    return safe_return_to(candidate, frontend_url=FRONTEND_URL, allowed_origins=ALLOWED_ORIGINS)


def lands_on_the_allow_list(url: str) -> bool:
    """Whether `url` is a plain http(s) URL on an allowed origin that no browser could read otherwise."""
    if any(ch <= " " or ch in "\\\x7f" for ch in url) or not url.isascii():
        return False
    parts = urlsplit(url)
    return (
        parts.scheme in ("http", "https")
        and "@" not in parts.netloc
        and origin_of(url) in ALLOWED_ORIGINS
        and url.startswith(origin_of(url) + "/")
    )


def test_the_corpus_is_large_enough_to_mean_something() -> None:
    assert len(PAYLOADS) >= 120


@pytest.mark.parametrize("payload", PAYLOADS)
def test_no_payload_leads_off_the_allow_list(payload: str) -> None:
    result = _validate(payload)
    assert result is None or lands_on_the_allow_list(result), result
    if result is not None:
        assert EVIL not in urlsplit(result).netloc


@pytest.mark.parametrize(("candidate", "expected"), sorted(ACCEPTED.items()))
def test_allowed_destinations_are_kept(candidate: str, expected: str) -> None:
    assert _validate(candidate) == expected


async def test_login_refuses_every_payload_that_leads_elsewhere(
    make_backend: BackendFactory, redis: Redis, key_prefix: str
) -> None:
    """The whole corpus through one running backend (the validator tests above name each payload)."""
    wrong: list[tuple[str, int, str]] = []
    with make_backend(ALLOWED_RETURN_TO=f"{ALLOWED},http://127.0.0.1:5173") as backend:
        async with httpx.AsyncClient() as client:
            for payload in PAYLOADS:
                answer = await client.get(f"{backend}/auth/login", params={"return_to": payload})
                expected = (400, "invalid_return_to") if _validate(payload) is None else (302, "")
                if (answer.status_code, error_code(answer)) != expected:
                    wrong.append((payload, answer.status_code, error_code(answer)))
                if answer.status_code == 400:
                    assert "location" not in answer.headers
    assert wrong == []
    accepted = {payload for payload in PAYLOADS if _validate(payload) is not None}
    # Paths on the frontend's own origin whose escapes no browser decodes into a separator.
    assert accepted == {"/%09/evil.example", "/%252e%252e/evil.example"}
    refused = len(PAYLOADS) - len(accepted)
    stored = [key async for key in redis.scan_iter(match=f"{key_prefix}tx:*")]
    assert len(stored) == len(PAYLOADS) - refused


async def test_the_login_lands_where_an_allowed_return_to_says(
    sandbox: RunningSandbox, make_backend: BackendFactory
) -> None:
    user = demo_user(sandbox.sandbox.store, "teacher")
    with make_backend(ALLOWED_RETURN_TO=f"{ALLOWED},http://127.0.0.1:5173") as backend:
        async with Browser(backend) as browser:
            relative = await browser.login(user["id"], return_to="/classes/7?tab=1")
            absolute = await browser.login(user["id"], return_to=f"{ALLOWED}/next?x=1")
    assert relative.location == "http://127.0.0.1:5173/classes/7?tab=1"
    assert absolute.location == f"{ALLOWED}/next?x=1"
