"""CORS and CSRF from foreign origins, `Origin: null` and forged simple requests."""

from __future__ import annotations

import httpx
import pytest

from tests.security.conftest import SESSION_COOKIE, error_code
from tests.support.browser import Browser

FRONTEND_ORIGIN = "http://127.0.0.1:5173"
FOREIGN = [
    "https://evil.example",
    "null",
    "http://127.0.0.1:5173.evil.example",
    "http://127.0.0.1:5174",
    "https://127.0.0.1:5173",
    "http://evil.example@127.0.0.1:5173",
    "http://127.0.0.1:5173/",
    "file://",
]
STATE_CHANGING = [("POST", "/auth/logout"), ("POST", "/auth/session/refresh")]


@pytest.mark.parametrize("origin", FOREIGN)
@pytest.mark.parametrize(("method", "path"), [*STATE_CHANGING, ("GET", "/auth/session")])
async def test_a_preflight_from_a_foreign_origin_is_refused(
    origin: str, method: str, path: str, shared_backend: str
) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.options(
            f"{shared_backend}{path}",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "x-requested-with",
            },
        )
    assert (answer.status_code, error_code(answer)) == (403, "cors_origin_denied")
    assert "access-control-allow-origin" not in answer.headers
    assert "access-control-allow-credentials" not in answer.headers


@pytest.mark.parametrize("origin", FOREIGN)
async def test_a_foreign_origin_cannot_read_the_session(origin: str, logged_in: Browser) -> None:
    answer = await logged_in.http.get(f"{logged_in.backend_url}/auth/session", headers={"Origin": origin})
    assert answer.status_code == 200  # the browser gets it, but will not show it to that page
    assert "access-control-allow-origin" not in answer.headers
    assert "origin" in answer.headers["vary"].lower()


@pytest.mark.parametrize("origin", FOREIGN)
@pytest.mark.parametrize(("method", "path"), STATE_CHANGING)
async def test_a_forged_state_change_from_a_foreign_origin_is_refused(
    origin: str, method: str, path: str, logged_in: Browser
) -> None:
    answer = await logged_in.http.request(
        method, f"{logged_in.backend_url}{path}", headers={"Origin": origin, "X-Requested-With": "x"}
    )
    assert (answer.status_code, error_code(answer)) == (403, "csrf_origin_denied")
    assert (await logged_in.session()).status_code == 200


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain"]
)
@pytest.mark.parametrize(("method", "path"), STATE_CHANGING)
async def test_a_simple_request_without_the_custom_header_is_refused(
    content_type: str, method: str, path: str, logged_in: Browser
) -> None:
    """What an HTML form on any site can send: no custom header, so it never changes state."""
    answer = await logged_in.http.request(
        method, f"{logged_in.backend_url}{path}", headers={"Content-Type": content_type}, content=b"a=b"
    )
    assert (answer.status_code, error_code(answer)) == (403, "csrf_header_missing")
    assert (await logged_in.session()).status_code == 200


async def test_the_listed_frontend_may_call_with_credentials(logged_in: Browser) -> None:
    backend = logged_in.backend_url
    preflight = await logged_in.http.options(
        f"{backend}/auth/logout",
        headers={"Origin": FRONTEND_ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == FRONTEND_ORIGIN
    assert preflight.headers["access-control-allow-credentials"] == "true"
    answer = await logged_in.http.post(
        f"{backend}/auth/logout", headers={"Origin": FRONTEND_ORIGIN, "X-Requested-With": "fetch"}
    )
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == FRONTEND_ORIGIN
    assert SESSION_COOKIE not in logged_in.http.cookies


async def test_a_get_never_changes_state(logged_in: Browser) -> None:
    for path in ("/auth/logout", "/auth/session/refresh"):
        answer = await logged_in.http.get(f"{logged_in.backend_url}{path}")
        assert (answer.status_code, error_code(answer)) == (405, "method_not_allowed")
    assert (await logged_in.session()).status_code == 200
