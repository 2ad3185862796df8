"""The partner-facing API: session, refresh, verify, introspect, ending sessions; what Redis holds."""

from __future__ import annotations

import httpx
import pytest
from redis.asyncio import Redis
from starlette.requests import Request

from app.web.cookies import Cookies
from app.web.routes.sessions import session_token
from tests.conftest import BackendFactory, RunningSandbox
from tests.support.backend import SERVICE_NAME, SERVICE_SECRET
from tests.support.browser import Browser
from tests.support.clever import count_requests, requests_seen
from tests.support.demo import demo_user, expected_roles

SERVICE = (SERVICE_NAME, SERVICE_SECRET)


async def _logged_in(backend: str, user_id: str) -> tuple[Browser, str]:
    browser = Browser(backend)
    landed = await browser.login(user_id)
    assert landed.response.status_code == 302
    return browser, browser.http.cookies["clever_session"]


async def test_verify_answers_forward_auth_headers(sandbox: RunningSandbox, backend: str) -> None:
    user = demo_user(sandbox.sandbox.store, "teacher_staff")
    browser, token = await _logged_in(backend, user["id"])
    async with browser, httpx.AsyncClient() as gateway:
        by_cookie = await browser.http.get(f"{backend}/auth/verify")
        by_bearer = await gateway.get(f"{backend}/auth/verify", headers={"Authorization": f"Bearer {token}"})
        anonymous = await gateway.get(f"{backend}/auth/verify")
    for answer in (by_cookie, by_bearer):
        assert answer.status_code == 200
        assert answer.headers["X-Clever-User-Id"] == user["id"]
        assert answer.headers["X-Clever-District-Id"] == user["district"]
        assert answer.headers["X-Clever-Roles"] == ",".join(expected_roles(user))
        assert answer.headers["X-Clever-Primary-Role"] in expected_roles(user)
    assert (anonymous.status_code, anonymous.json()["error"]) == (401, "no_session")


async def test_introspection_for_backend_services(sandbox: RunningSandbox, backend: str) -> None:
    user = demo_user(sandbox.sandbox.store, "student")
    browser, token = await _logged_in(backend, user["id"])
    async with browser, httpx.AsyncClient(base_url=backend) as service:
        active = await service.post("/auth/introspect", data={"token": token}, auth=SERVICE)
        as_json = await service.post("/auth/introspect", json={"token": token}, auth=SERVICE)
        inactive = await service.post("/auth/introspect", data={"token": "v1.nope"}, auth=SERVICE)
        wrong_secret = await service.post(
            "/auth/introspect", data={"token": token}, auth=(SERVICE_NAME, "x" * 30)
        )
        no_auth = await service.post("/auth/introspect", data={"token": token})
    for answer in (active, as_json):
        assert answer.status_code == 200
        body = answer.json()
        assert body["active"] is True
        assert (body["sub"], body["district"], body["roles"]) == (user["id"], user["district"], ["student"])
        assert body["exp"] > body["iat"]
        assert body["principal"]["user"]["id"] == user["id"]
    assert inactive.json() == {"active": False}
    for refused in (wrong_secret, no_auth):
        assert (refused.status_code, refused.json()["error"]) == (401, "unauthorized_client")
        assert refused.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 1500,
        b'{"token": ' + b"[" * 1500 + b"]" * 1500 + b"}",
        b'{"token": ' + b'{"a": ' * 200 + b"1" + b"}" * 200 + b"}",
    ],
)
async def test_a_deeply_nested_json_body_is_a_bad_request_and_the_connection_lives_on(
    body: bytes, backend: str
) -> None:
    async with httpx.AsyncClient(base_url=backend, limits=httpx.Limits(max_connections=1)) as service:
        nested = await service.post(
            "/auth/introspect", content=body, headers={"Content-Type": "application/json"}, auth=SERVICE
        )
        after = await service.post("/auth/introspect", json={"token": "v1.nope"}, auth=SERVICE)
    assert (nested.status_code, nested.json()["error"]) == (400, "invalid_request")
    assert (after.status_code, after.json()) == (200, {"active": False})


async def test_brackets_inside_strings_do_not_count_as_nesting(backend: str) -> None:
    token = '[[[[[[[[[[\\"{{{{{{{{{{'
    async with httpx.AsyncClient(base_url=backend) as service:
        answer = await service.post("/auth/introspect", json={"token": token, "x": [[["ok"]]]}, auth=SERVICE)
    assert (answer.status_code, answer.json()) == (200, {"active": False})


async def test_every_session_of_a_user_can_be_ended_by_a_service(
    sandbox: RunningSandbox, backend: str
) -> None:
    teacher, student = (
        demo_user(sandbox.sandbox.store, "teacher"),
        demo_user(sandbox.sandbox.store, "student"),
    )
    first, _ = await _logged_in(backend, teacher["id"])
    second, _ = await _logged_in(backend, teacher["id"])
    other, _ = await _logged_in(backend, student["id"])
    async with first, second, other, httpx.AsyncClient(base_url=backend) as service:
        refused = await service.delete(f"/auth/users/{teacher['id']}/sessions")
        assert refused.status_code == 401
        ended = await service.delete(f"/auth/users/{teacher['id']}/sessions", auth=SERVICE)
        assert ended.json() == {"ended": 2}
        assert (await first.session()).status_code == 401
        assert (await second.session()).status_code == 401
        assert (await other.session()).status_code == 200
        district = await service.delete(f"/auth/districts/{student['district']}/sessions", auth=SERVICE)
        assert district.json() == {"ended": 1}
        assert (await other.session()).status_code == 401


async def test_refresh_follows_the_roster(sandbox: RunningSandbox, backend: str) -> None:
    user = demo_user(sandbox.sandbox.store, "teacher_staff")
    browser, _ = await _logged_in(backend, user["id"])
    async with browser, httpx.AsyncClient(base_url=sandbox.url) as control:
        assert (await browser.session()).json()["user"]["roles"] == ["staff", "teacher"]
        changed = await control.patch(f"/sandbox/users/{user['id']}", json={"roles": {"staff": None}})
        assert changed.status_code == 200
        refreshed = await browser.http.post(
            f"{backend}/auth/session/refresh", headers={"X-Requested-With": "t"}
        )
        assert refreshed.status_code == 200
        assert refreshed.json()["user"]["roles"] == ["teacher"]
        assert (await browser.session()).json()["user"]["roles"] == ["teacher"]
        # At once again: refused before any call to Clever, and the session is untouched.
        await count_requests(sandbox.url, "/v3.1/*")
        again = await browser.http.post(f"{backend}/auth/session/refresh", headers={"X-Requested-With": "t"})
        assert (again.status_code, again.json()["error"]) == (429, "refresh_too_soon")
        assert 1 <= int(again.headers["Retry-After"]) <= 30
        assert await requests_seen(sandbox.url, "/v3.1/*") == 0
        assert (await browser.session()).status_code == 200


async def test_a_refresh_that_finds_no_allowed_role_ends_the_session(
    sandbox: RunningSandbox, make_backend: BackendFactory
) -> None:
    user = demo_user(sandbox.sandbox.store, "teacher_staff")
    with make_backend(ALLOWED_ROLES="staff") as backend:
        browser, _ = await _logged_in(backend, user["id"])
        async with browser, httpx.AsyncClient(base_url=sandbox.url) as control:
            changed = await control.patch(f"/sandbox/users/{user['id']}", json={"roles": {"staff": None}})
            assert changed.status_code == 200
            refused = await browser.http.post(
                f"{backend}/auth/session/refresh", headers={"X-Requested-With": "t"}
            )
            assert (refused.status_code, refused.json()["error"]) == (403, "role_not_allowed")
            assert (await browser.session()).status_code == 401


async def test_redis_holds_ciphertext_and_every_key_expires(
    sandbox: RunningSandbox, backend: str, redis: Redis, key_prefix: str
) -> None:
    user = demo_user(sandbox.sandbox.store, "student")
    browser, token = await _logged_in(backend, user["id"])
    async with browser:
        assert (await browser.session()).status_code == 200
    keys = [key async for key in redis.scan_iter(match=f"{key_prefix}*")]
    kinds = {key.decode().removeprefix(key_prefix).split(":", 1)[0] for key in keys}
    assert {"s", "u", "d", "tx", "dt"} <= kinds
    secrets = [
        user["id"],
        user["name"]["first"],
        user["name"]["last"],
        token.split(".")[1],
        token.split(".")[2],
    ]
    district_token = sandbox.sandbox.tokens.district_token(user["district"], sandbox.config.client_id)
    for key in keys:
        assert await redis.ttl(key) > 0, key
        if await redis.type(key) == b"string":
            raw = await redis.get(key)
            assert isinstance(raw, bytes)
            for clear in [*secrets, district_token, user["district"]]:
                assert clear.encode() not in raw, (key, clear)
        for clear in secrets:
            assert clear.encode() not in key


async def test_a_byte_flipped_in_redis_ends_the_session(
    sandbox: RunningSandbox, backend: str, redis: Redis, key_prefix: str
) -> None:
    browser, _ = await _logged_in(backend, demo_user(sandbox.sandbox.store, "teacher")["id"])
    async with browser:
        [key] = [key async for key in redis.scan_iter(match=f"{key_prefix}s:*")]
        raw = await redis.get(key)
        assert isinstance(raw, bytes)
        await redis.set(key, raw[:-1] + bytes([raw[-1] ^ 1]), keepttl=True)
        assert (await browser.session()).status_code == 401


async def test_session_answers_are_not_cached_and_cookies_are_strict(
    sandbox: RunningSandbox, backend: str
) -> None:
    user = demo_user(sandbox.sandbox.store, "teacher")
    async with Browser(backend) as browser:
        landed = await browser.login(user["id"])
        set_cookie = landed.response.headers["set-cookie"].lower()
        answer = await browser.session()
    assert "httponly" in set_cookie
    assert "samesite=lax" in set_cookie
    assert "path=/" in set_cookie
    assert "domain" not in set_cookie
    assert "max-age" not in set_cookie  # ends with the browser; the server enforces the timeouts
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert landed.response.headers["referrer-policy"] == "no-referrer"


async def test_cors_lets_the_frontend_call_with_credentials_and_nobody_else(backend: str) -> None:
    async with httpx.AsyncClient(base_url=backend) as client:
        allowed = await client.options(
            "/auth/session",
            headers={"Origin": "http://127.0.0.1:5173", "Access-Control-Request-Method": "GET"},
        )
        foreign = await client.options(
            "/auth/session",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == "http://127.0.0.1:5173"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert foreign.status_code == 403
    assert "access-control-allow-origin" not in foreign.headers


async def test_openapi_describes_every_route(backend: str) -> None:
    async with httpx.AsyncClient(base_url=backend) as client:
        document = (await client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    assert {
        "/auth/login",
        "/auth/callback",
        "/auth/session",
        "/auth/session/refresh",
        "/auth/logout",
        "/auth/verify",
        "/auth/introspect",
        "/auth/users/{user_id}/sessions",
        "/auth/districts/{district_id}/sessions",
        "/healthz",
        "/readyz",
        "/metrics",
    } <= set(document["paths"])


async def test_unknown_paths_and_methods_answer_stable_codes(backend: str) -> None:
    async with httpx.AsyncClient(base_url=backend) as client:
        missing = await client.get("/nope")
        wrong_method = await client.get("/auth/logout")
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    assert (wrong_method.status_code, wrong_method.json()["error"]) == (405, "method_not_allowed")


async def test_logins_are_counted_in_metrics_without_personal_data(
    sandbox: RunningSandbox, backend: str
) -> None:
    user = demo_user(sandbox.sandbox.store, "student")
    async with Browser(backend) as browser:
        await browser.login(user["id"])
        await browser.callback(f"{backend}/auth/callback?state=nope&code=x")  # a failed one
        metrics = (await browser.http.get(f"{backend}/metrics")).text
    assert 'logins_total{method="clever_sso",outcome="success"} 1.0' in metrics
    # The failed one, whichever code it got, before its login method was known.
    assert 'logins_total{method="unknown",outcome="' in metrics
    # District ids label the rate-limit gauges only (not personal data, one per district).
    others = "\n".join(line for line in metrics.splitlines() if "clever_rate_limit_" not in line)
    for personal in (user["id"], user["name"]["first"], user["name"]["last"], user["district"]):
        assert personal not in others


async def test_a_login_that_fails_is_counted_by_its_code_and_method_and_nothing_else_is(
    sandbox: RunningSandbox, make_backend: BackendFactory
) -> None:
    store = sandbox.sandbox.store
    user = demo_user(store, "teacher")
    other_district = next(d for d in store.district_ids() if d != user["district"])
    with make_backend(ALLOWED_DISTRICTS=other_district) as backend:
        async with Browser(backend) as browser:
            refused = await browser.login(user["id"])
            assert refused.response.status_code == 403
            # Errors of other endpoints are no failed logins.
            assert (await browser.session()).status_code == 401
            metrics = (await browser.http.get(f"{backend}/metrics")).text
    logins = [line for line in metrics.splitlines() if line.startswith("logins_total{")]
    assert logins == ['logins_total{method="clever_sso",outcome="district_not_allowed"} 1.0']


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(b"cookie", b"clever_session=abc")],
        [(b"cookie", b"a=1; clever_session=abc; b=2")],
        [(b"cookie", b"clever_session=first"), (b"cookie", b"clever_session=second")],
        [(b"cookie", b"clever_session=first"), (b"cookie", b"other=x")],
        [(b"cookie", b'clever_session="quoted\\054value"')],
        [(b"cookie", b"clever_session=")],
        [(b"cookie", b"clever_session")],
        [(b"authorization", b"Bearer tok"), (b"cookie", b"clever_session=abc")],
        [(b"authorization", b"bearer   tok  ")],
        [(b"authorization", b"Bearer "), (b"cookie", b"clever_session=abc")],
        [(b"authorization", b"Basic eDp5"), (b"cookie", b"clever_session=abc")],
        [(b"authorization", b"Basic eDp5"), (b"authorization", b"Bearer second")],
        [(b"authorization", b"Bearer first"), (b"authorization", b"Bearer second")],
        [(b"authorization", b"Bearer\ttab")],
        [(b"authorization", b"Bearer caf\xe9")],
        [(b"Cookie", b"clever_session=upper-case-name")],
    ],
)
def test_verify_reads_the_token_as_every_other_route_does(headers: list[tuple[bytes, bytes]]) -> None:
    cookies = Cookies(secure=False)
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": headers})
    assert session_token(headers, cookies.session_name) == cookies.session_token(request)
