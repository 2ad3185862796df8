"""Every way a login can go wrong answers a stable error code, never a 500, and loses nothing."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from redis.asyncio import Redis

from tests.conftest import BackendFactory, RunningSandbox
from tests.support.backend import backend_on
from tests.support.browser import Browser, Step, back_from_clever, logged_in_browser
from tests.support.demo import demo_user
from tests.support.oauth import redeem


def _error_code(response: httpx.Response) -> str:
    if response.headers.get("content-type", "").startswith("application/json"):
        return str(response.json()["error"])
    marker = "Error code: "
    return response.text.split(marker, 1)[1].split("<", 1)[0] if marker in response.text else ""


async def _assert_state_consumed(browser: Browser, start: Step, user_id: str) -> None:
    """A login already answered with an error: signing in at Clever again finds its state gone."""
    clever = await browser.sign_in_at_clever(start.location, user_id)
    late = await browser.callback(clever.location)
    assert (late.response.status_code, _error_code(late.response)) == (400, "login_expired")


async def _fault(sandbox: RunningSandbox, **fault: object) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as control:
        answer = await control.post("/sandbox/faults", json=fault)
        assert answer.status_code < 300, answer.text


async def test_state_from_another_browser_is_refused(sandbox: RunningSandbox, backend: str) -> None:
    async with (
        back_from_clever(backend, sandbox.sandbox.store, "teacher") as (victim, redirect),
        Browser(backend) as attacker,
    ):
        stolen = await attacker.callback(redirect)
        assert (stolen.response.status_code, _error_code(stolen.response)) == (400, "login_expired")
        # ...and the victim's own login still completes.
        assert (await victim.callback(redirect)).response.status_code == 302


async def test_a_callback_without_the_pending_login_cookie_is_refused(
    sandbox: RunningSandbox, backend: str
) -> None:
    async with back_from_clever(backend, sandbox.sandbox.store, "teacher") as (browser, redirect):
        browser.http.cookies.clear()
        answer = await browser.callback(redirect)
    assert (answer.response.status_code, _error_code(answer.response)) == (400, "login_expired")


async def test_an_expired_transaction_is_refused(
    sandbox: RunningSandbox, backend: str, redis: Redis, key_prefix: str
) -> None:
    async with back_from_clever(backend, sandbox.sandbox.store, "teacher") as (browser, redirect):
        async for key in redis.scan_iter(match=f"{key_prefix}tx:*"):
            await redis.delete(key)  # what its TTL does after ten minutes
        answer = await browser.callback(redirect)
    assert (answer.response.status_code, _error_code(answer.response)) == (400, "login_expired")


async def test_a_state_replayed_after_logout_does_not_revive_the_session(
    sandbox: RunningSandbox, backend: str
) -> None:
    async with back_from_clever(backend, sandbox.sandbox.store, "teacher") as (browser, redirect):
        assert (await browser.callback(redirect)).response.status_code == 302
        logout = await browser.http.post(f"{backend}/auth/logout", headers={"X-Requested-With": "test"})
        assert logout.status_code == 204
        replay = await browser.callback(redirect)
        assert (replay.response.status_code, _error_code(replay.response)) == (400, "login_expired")
        assert (await browser.session()).status_code == 401


async def test_a_code_already_used_at_clever_sends_the_person_to_log_in_again(
    pkce_sandbox: RunningSandbox, redis_url: str, key_prefix: str
) -> None:
    with backend_on(pkce_sandbox, redis_url=redis_url, key_prefix=key_prefix) as backend:
        async with back_from_clever(backend, pkce_sandbox.sandbox.store, "teacher") as (browser, redirect):
            code = redirect.split("code=", 1)[1].split("&", 1)[0]
            used = await redeem(pkce_sandbox.url, pkce_sandbox.config, code)  # a thief without the verifier
            if pkce_sandbox.config.pkce == "enforced":
                # PKCE: the thief gets nothing, but the attempt uses the code up.
                assert (used.status_code, used.json()["error"]) == (400, "invalid_grant")
            else:
                # Clever ignores PKCE: the stolen code is worth a token, and is used up as well.
                assert used.status_code == 200
                assert used.json()["access_token"]
            answer = await browser.callback(redirect)
            assert (answer.response.status_code, _error_code(answer.response)) == (400, "login_expired")
            assert "clever_session" not in browser.http.cookies


@pytest.mark.parametrize(("started", "completed"), [("true", "false"), ("false", "true")])
async def test_a_login_across_a_clever_pkce_change_fails_clearly_where_pkce_is_enforced(
    pkce_sandbox: RunningSandbox, redis_url: str, key_prefix: str, started: str, completed: str
) -> None:
    """Started by a backend with one CLEVER_PKCE and completed by one with the other (a rolling
    change): a server that enforces PKCE refuses a challenged code without its verifier, and a
    verifier for a code issued without a challenge, so the person is asked to log in again; one
    that ignores PKCE, as Clever, lets the login through."""
    teacher = demo_user(pkce_sandbox.sandbox.store, "teacher")
    with (
        backend_on(
            pkce_sandbox, redis_url=redis_url, key_prefix=key_prefix, extra={"CLEVER_PKCE": started}
        ) as first,
        backend_on(
            pkce_sandbox, redis_url=redis_url, key_prefix=key_prefix, extra={"CLEVER_PKCE": completed}
        ) as second,
    ):
        async with Browser(first) as browser:
            redirect = await browser.clever_redirect(teacher["id"])
            browser.backend_url = second  # the same browser (cookies are per host), another backend
            answer = await browser.callback(redirect)
            if pkce_sandbox.config.pkce == "enforced":
                assert (answer.response.status_code, _error_code(answer.response)) == (400, "login_expired")
                assert (await browser.session()).status_code == 401
            else:
                assert answer.response.status_code == 302, answer.response.text
                assert (await browser.session()).json()["user"]["id"] == teacher["id"]


async def test_cancelling_at_clever_shows_a_friendly_page_and_consumes_the_state(
    sandbox: RunningSandbox, backend: str
) -> None:
    async with Browser(backend) as browser:
        start = await browser.start_login()
        # The sandbox's picker: its Cancel link is Clever's access_denied answer for this login.
        picker = await browser.http.get(start.location)
        cancel = re.search(r'<a class="cancel" href="([^"]+)"', picker.text)
        assert cancel is not None
        cancel_url = html.unescape(cancel.group(1))
        assert parse_qs(urlsplit(cancel_url).query)["error"] == ["access_denied"]
        cancelled = await browser.callback(cancel_url)
        assert (cancelled.response.status_code, _error_code(cancelled.response)) == (400, "login_cancelled")
        assert "You cancelled signing in with Clever" in cancelled.response.text
        assert "did not allow" not in cancelled.response.text
        assert 'href="/auth/login"' in cancelled.response.text
        await _assert_state_consumed(browser, start, demo_user(sandbox.sandbox.store, "teacher")["id"])


async def test_clever_refusing_the_login_shows_a_friendly_page_and_consumes_the_state(
    sandbox: RunningSandbox, backend: str
) -> None:
    async with Browser(backend) as browser:
        start = await browser.start_login()
        state = start.query["state"]
        denied = await browser.get(
            f"{backend}/auth/callback",
            params={
                "error": "unauthorized_client",
                "error_description": "<script>alert(1)</script>",
                "state": state,
            },
        )
        assert (denied.response.status_code, _error_code(denied.response)) == (403, "clever_denied")
        assert denied.response.headers["content-type"].startswith("text/html")
        assert "<script>" not in denied.response.text
        assert 'href="/auth/login"' in denied.response.text
        await _assert_state_consumed(browser, start, demo_user(sandbox.sandbox.store, "teacher")["id"])


async def test_errors_are_json_when_asked(backend: str) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            f"{backend}/auth/callback", params={"state": "x"}, headers={"Accept": "application/json"}
        )
    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_request", "message": answer.json()["message"]}


@pytest.mark.parametrize(
    "query",
    [
        "",
        "state=abc",
        "code=&state=abc",
        "code=a&code=b&state=s",
        "code=a&state=s&state=t",
        "code=a&state=" + "s" * 5000,
    ],
)
async def test_malformed_callbacks_are_bad_requests(query: str, backend: str) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{backend}/auth/callback?{query}")
    assert (answer.status_code, _error_code(answer)) == (400, "invalid_request")


@pytest.mark.parametrize(
    "return_to",
    [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "https://127.0.0.1:5173@evil.example/",
        "javascript:alert(1)",
        "http://127.0.0.1:5174/",
        "/\t/evil.example",
    ],
)
async def test_open_redirects_are_refused_before_anything_is_stored(
    return_to: str, backend: str, redis: Redis, key_prefix: str
) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{backend}/auth/login", params={"return_to": return_to})
    assert (answer.status_code, _error_code(answer)) == (400, "invalid_return_to")
    assert "location" not in answer.headers
    assert [key async for key in redis.scan_iter(match=f"{key_prefix}tx:*")] == []


async def test_a_bad_district_hint_is_refused(backend: str) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{backend}/auth/login", params={"district_id": "../x"})
    assert (answer.status_code, _error_code(answer)) == (400, "invalid_district")


async def test_clever_down_at_the_token_endpoint_is_a_503_and_the_code_is_posted_once(
    sandbox: RunningSandbox, backend: str
) -> None:
    user = demo_user(sandbox.sandbox.store, "teacher")
    await _fault(sandbox, path="/oauth/tokens", method="POST", status=503, count=5)
    async with Browser(backend) as browser:
        answer = await browser.login(user["id"])
    assert (answer.response.status_code, _error_code(answer.response)) == (503, "clever_unavailable")
    async with httpx.AsyncClient(base_url=sandbox.url) as control:
        faults = (await control.get("/sandbox/faults")).json()
    remaining = [rule for rule in faults["data"] if rule["path"] == "/oauth/tokens"]
    assert remaining[0]["count"] == 4  # exactly one POST reached Clever


async def test_clever_answering_garbage_is_a_502(sandbox: RunningSandbox, backend: str) -> None:
    user = demo_user(sandbox.sandbox.store, "teacher")
    await _fault(sandbox, path="/v3.1/users/*", method="GET", status=200, body="malformed", count=None)
    async with Browser(backend) as browser:
        answer = await browser.login(user["id"])
        assert (answer.response.status_code, _error_code(answer.response)) == (502, "clever_error")
        assert "clever_session" not in browser.http.cookies


async def test_a_district_not_allowed_gets_a_clear_page_even_from_the_portal(
    sandbox: RunningSandbox, make_backend: BackendFactory
) -> None:
    store = sandbox.sandbox.store
    main_district, second_district = store.district_ids()[:2]
    user = demo_user(store, "teacher")
    assert user["district"] == main_district
    with make_backend(ALLOWED_DISTRICTS=second_district) as backend:
        async with Browser(backend) as browser:
            refused = await browser.login(user["id"])
            assert (refused.response.status_code, _error_code(refused.response)) == (
                403,
                "district_not_allowed",
            )
            launch = await browser.get(
                f"{sandbox.url}/oauth/instant-login",
                params={
                    "client_id": sandbox.config.client_id,
                    "district_id": main_district,
                    "login_hint": user["id"],
                },
            )
            bounced = await browser.callback(launch.location)
            again = await browser.get(bounced.location)
            portal = await browser.callback(again.location)
            assert (portal.response.status_code, _error_code(portal.response)) == (
                403,
                "district_not_allowed",
            )
            assert "clever_session" not in browser.http.cookies


@pytest.mark.parametrize(
    "token",
    ["garbage", "v1.AAAA.BBBB.CCCC", "v1." + "A" * 43 + "." + "B" * 43 + "." + "C" * 43],
)
async def test_bad_session_tokens_are_401(token: str, backend: str) -> None:
    async with httpx.AsyncClient(cookies={"clever_session": token}) as client:
        by_cookie = await client.get(f"{backend}/auth/session")
    async with httpx.AsyncClient() as client:
        by_bearer = await client.get(f"{backend}/auth/session", headers={"Authorization": f"Bearer {token}"})
    for answer in (by_cookie, by_bearer):
        assert answer.status_code == 401
        assert answer.json()["error"] == "no_session"


async def test_a_tampered_cookie_is_401(sandbox: RunningSandbox, backend: str) -> None:
    async with logged_in_browser(backend, sandbox.sandbox.store, "teacher") as browser:
        cookie = browser.http.cookies["clever_session"]
        flipped = cookie[:-2] + ("A" if cookie[-2] != "A" else "B") + cookie[-1]
        async with httpx.AsyncClient(cookies={"clever_session": flipped}) as client:
            answer = await client.get(f"{backend}/auth/session")
    assert answer.status_code == 401


async def test_an_expired_session_is_401(
    sandbox: RunningSandbox, backend: str, redis: Redis, key_prefix: str
) -> None:
    async with logged_in_browser(backend, sandbox.sandbox.store, "teacher") as browser:
        async for key in redis.scan_iter(match=f"{key_prefix}s:*"):
            await redis.delete(key)  # what the idle TTL does
        assert (await browser.session()).status_code == 401


async def test_logout_then_reuse_is_401(sandbox: RunningSandbox, backend: str) -> None:
    async with logged_in_browser(backend, sandbox.sandbox.store, "teacher") as browser:
        token = browser.http.cookies["clever_session"]
        logout = await browser.http.post(f"{backend}/auth/logout", headers={"X-Requested-With": "test"})
        assert logout.status_code == 204
        assert "clever_session=" in logout.headers["set-cookie"]
        assert (await browser.session()).status_code == 401
        async with httpx.AsyncClient() as client:
            replay = await client.get(f"{backend}/auth/session", headers={"Authorization": f"Bearer {token}"})
    assert replay.status_code == 401


@pytest.mark.parametrize("bearer", ["another-session", "an-api-token"])
async def test_logout_with_another_bearer_token_ends_the_cookies_session_too(
    bearer: str, sandbox: RunningSandbox, backend: str
) -> None:
    """A frontend that attaches its own `Authorization: Bearer` to every call logs out: the session
    behind the cookie it clears ends, and so does a session the bearer token names."""
    user = demo_user(sandbox.sandbox.store, "teacher")
    async with Browser(backend) as browser, Browser(backend) as elsewhere:
        await browser.login(user["id"])
        await elsewhere.login(user["id"])
        cookie_token = browser.http.cookies["clever_session"]
        other_token = elsewhere.http.cookies["clever_session"]
        token = other_token if bearer == "another-session" else "frontend-api-token"
        logout = await browser.http.post(
            f"{backend}/auth/logout", headers={"X-Requested-With": "test", "Authorization": f"Bearer {token}"}
        )
        assert logout.status_code == 204
        assert "clever_session=" in logout.headers["set-cookie"]
        async with httpx.AsyncClient() as client:
            behind_cookie = await client.get(
                f"{backend}/auth/session", headers={"Authorization": f"Bearer {cookie_token}"}
            )
            assert behind_cookie.status_code == 401
            other = await client.get(
                f"{backend}/auth/session", headers={"Authorization": f"Bearer {other_token}"}
            )
            assert other.status_code == (401 if bearer == "another-session" else 200)


async def test_a_cross_origin_post_without_the_header_is_refused(
    sandbox: RunningSandbox, backend: str
) -> None:
    async with logged_in_browser(backend, sandbox.sandbox.store, "teacher") as browser:
        forged = await browser.http.post(
            f"{backend}/auth/logout", headers={"Origin": "https://evil.example", "X-Requested-With": "x"}
        )
        assert (forged.status_code, forged.json()["error"]) == (403, "csrf_origin_denied")
        no_header = await browser.http.post(f"{backend}/auth/logout")
        assert (no_header.status_code, no_header.json()["error"]) == (403, "csrf_header_missing")
        assert (await browser.session()).status_code == 200  # nothing was logged out
