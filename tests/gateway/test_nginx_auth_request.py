"""nginx `auth_request` in front of a protected app, with deploy/nginx/clever-login.conf as shipped:
real logins through the gateway's origin, what the app is told, failing closed, keep-alive."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import httpx

from app.crypto.keyring import Keyring
from app.crypto.ticket import Ticket
from app.sessions.store import TICKET_PURPOSE
from tests.conftest import RunningSandbox
from tests.gateway.conftest import CountingBackends, Gateway, GatewayFactory
from tests.gateway.nginx import SNIPPET
from tests.support.backend import SESSION_SECRET
from tests.support.browser import Browser
from tests.support.demo import User, demo_user, expected_roles
from tests.support.processes import free_port

SESSION_COOKIE = "clever_session"  # COOKIE_SECURE=false in tests: no __Host- prefix


def expected(sandbox: RunningSandbox, kind: str) -> tuple[User, dict[str, str]]:
    """A demo user of `kind`, and the identity headers the app must receive for them."""
    store = sandbox.sandbox.store
    user = demo_user(store, kind)
    return user, {
        "x-clever-user-id": user["id"],
        "x-clever-district-id": user["district"],
        "x-clever-roles": ",".join(expected_roles(user)),
        "x-clever-primary-role": store.login_role(user["id"]),
        "x-clever-authorized-by": "district",
    }


def headers_seen(page: httpx.Response) -> dict[str, str]:
    """The app's echo of its X-Clever-* headers, each name present at most once."""
    assert page.status_code == 200, page.text
    pairs: list[tuple[str, str]] = [(name, value) for name, value in page.json()["clever"]]
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names)), f"a header arrived more than once: {pairs}"
    return dict(pairs)


async def log_in(browser: Browser, user_id: str, return_to: str = "/") -> None:
    """A whole login through the gateway (the browser's backend_url is the gateway)."""
    landed = await browser.login(user_id, return_to=return_to)
    assert landed.response.status_code == 302, landed.response.text
    assert landed.location == f"{browser.backend_url}{return_to}"


async def test_without_a_session_the_browser_is_sent_to_log_in(gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        page = await client.get("/classes/7?tab=roster")
        form = await client.post("/grades", json={"grade": "A"})
    assert page.status_code == 302
    assert page.headers["location"] == "/auth/login?return_to=/classes/7?tab=roster"
    assert form.status_code == 302
    assert form.headers["location"] == "/auth/login?return_to=/grades"
    assert gateway.app.seen == []


async def test_a_login_through_the_gateway_lands_on_the_page_and_the_app_learns_who(
    sandbox: RunningSandbox, gateway: Gateway
) -> None:
    user, identity = expected(sandbox, "teacher_staff")
    async with Browser(gateway.url) as browser:
        asked = await browser.get(f"{gateway.url}/classes/7?tab=roster")
        assert asked.response.status_code == 302
        to_login = urljoin(gateway.url, asked.location)
        at_login = await browser.get(to_login)
        assert at_login.response.status_code == 302, at_login.response.text
        assert at_login.location.startswith(f"{sandbox.url}/oauth/authorize?")
        at_clever = await browser.sign_in_at_clever(at_login.location, user["id"])
        landed = await browser.callback(at_clever.location)  # Clever's redirect, to the gateway
        assert landed.response.status_code == 302, landed.response.text
        assert landed.location == f"{gateway.url}/classes/7?tab=roster"
        page = await browser.get(landed.location)
    assert headers_seen(page.response) == identity
    assert set(identity["x-clever-roles"].split(",")) == {"teacher", "staff"}
    assert (gateway.app.seen[0]["path"], gateway.app.seen[0]["query"]) == ("/classes/7", "tab=roster")


async def test_identity_headers_sent_by_the_client_never_reach_the_app(
    sandbox: RunningSandbox, gateway: Gateway
) -> None:
    _, identity = expected(sandbox, "student")
    admin = demo_user(sandbox.sandbox.store, "district_admin")
    forged = [
        ("X-Clever-User-Id", admin["id"]),
        ("x-clever-user-id", "second-copy"),
        ("X-Clever-District-Id", "another-district"),
        ("X-Clever-Roles", "district_admin"),
        ("X-Clever-Primary-Role", "district_admin"),
        ("X-Clever-Authorized-By", "teacher"),
        ("X_Clever_User_Id", admin["id"]),
    ]
    async with Browser(gateway.url) as browser:
        await log_in(browser, identity["x-clever-user-id"])
        page = await browser.http.get(f"{gateway.url}/reports", headers=forged)
    async with httpx.AsyncClient() as stranger:
        no_session = await stranger.get(f"{gateway.url}/reports", headers=forged)
    assert headers_seen(page) == identity
    assert no_session.status_code == 302
    assert len(gateway.app.seen) == 1


async def test_a_form_post_is_checked_as_a_page_view_is(sandbox: RunningSandbox, gateway: Gateway) -> None:
    # The check is a bodiless GET whatever the request: no 405, and no CSRF refusal of a cookie POST.
    _, identity = expected(sandbox, "teacher")
    async with Browser(gateway.url) as browser:
        await log_in(browser, identity["x-clever-user-id"])
        posted = await browser.http.post(f"{gateway.url}/grades", data={"grade": "A"})
    assert headers_seen(posted) == identity
    assert (posted.json()["method"], posted.json()["body"]) == ("POST", "grade=A")


async def test_a_bearer_token_is_accepted_as_the_cookie_is(sandbox: RunningSandbox, gateway: Gateway) -> None:
    _, identity = expected(sandbox, "teacher")
    async with Browser(gateway.url) as browser:
        await log_in(browser, identity["x-clever-user-id"])
        token = browser.http.cookies[SESSION_COOKIE]
    async with httpx.AsyncClient() as api:  # no cookies at all
        by_token = await api.get(f"{gateway.url}/api/grades", headers={"Authorization": f"Bearer {token}"})
        forged = await api.get(f"{gateway.url}/api/grades", headers={"Authorization": "Bearer v1.forged"})
    assert headers_seen(by_token) == identity
    assert forged.status_code == 302
    assert len(gateway.app.seen) == 1


async def test_after_logout_the_next_request_is_sent_to_log_in(
    sandbox: RunningSandbox, gateway: Gateway
) -> None:
    _, identity = expected(sandbox, "staff")
    async with Browser(gateway.url) as browser:
        await log_in(browser, identity["x-clever-user-id"])
        token = browser.http.cookies[SESSION_COOKIE]
        before = await browser.http.get(f"{gateway.url}/grades")
        logout = await browser.http.post(f"{gateway.url}/auth/logout", headers={"X-Requested-With": "fetch"})
        after = await browser.http.get(f"{gateway.url}/grades")
    async with httpx.AsyncClient() as api:  # the old ticket is dead on the server, not just forgotten
        old_token = await api.get(f"{gateway.url}/grades", headers={"Authorization": f"Bearer {token}"})
    assert headers_seen(before) == identity
    assert logout.status_code == 204
    for refused in (after, old_token):
        assert refused.status_code == 302
        assert refused.headers["location"] == "/auth/login?return_to=/grades"
    assert len(gateway.app.seen) == 1


def _well_signed_ticket() -> str:
    """A ticket the test backends accept as well-formed, so verifying it needs Redis."""
    return Ticket.new().encode(Keyring.from_secret(SESSION_SECRET).ticket_signing, TICKET_PURPOSE)


async def test_redis_down_is_a_503_and_the_app_is_never_asked(make_gateway: GatewayFactory) -> None:
    cookie = {"Cookie": f"{SESSION_COOKIE}={_well_signed_ticket()}"}
    with make_gateway(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0") as gateway:
        async with httpx.AsyncClient() as client:
            page = await client.get(f"{gateway.url}/grades", headers=cookie)
            verdict = await client.get(f"{gateway.url}/auth/verify", headers=cookie)
    assert (verdict.status_code, verdict.json()["error"]) == (503, "store_unavailable")
    assert page.status_code == 503
    assert page.headers["retry-after"] == "5"
    assert gateway.app.seen == []


@contextlib.contextmanager
def _nobody_listening(**_: str) -> Iterator[str]:
    yield f"http://127.0.0.1:{free_port()}"


async def test_a_backend_that_does_not_answer_is_a_503_too(make_gateway: GatewayFactory) -> None:
    with make_gateway(backend=_nobody_listening) as gateway:
        async with httpx.AsyncClient() as client:
            answers = [
                await client.get(f"{gateway.url}/grades", headers={"Cookie": f"{SESSION_COOKIE}=x"})
                for _ in range(3)
            ]
    assert [answer.status_code for answer in answers] == [503, 503, 503]
    assert gateway.app.seen == []


REQUESTS = 50


async def _protected_requests_after_login(
    sandbox: RunningSandbox, make_gateway: GatewayFactory, backends: CountingBackends, *, keepalive: bool
) -> dict[str, Any]:
    _, identity = expected(sandbox, "student")
    with make_gateway(backend=backends, backend_keepalive=keepalive) as gateway:
        async with Browser(gateway.url) as browser:
            await log_in(browser, identity["x-clever-user-id"])
            assert backends.counter is not None
            backends.counter.reset()
            for _ in range(REQUESTS):
                assert headers_seen(await browser.http.get(f"{gateway.url}/grades")) == identity
    return {"connections": len(backends.counter.clients), "verifications": backends.counter.requests}


async def test_many_checks_share_few_backend_connections(
    sandbox: RunningSandbox, make_gateway: GatewayFactory, counting_backends: CountingBackends
) -> None:
    seen = await _protected_requests_after_login(sandbox, make_gateway, counting_backends, keepalive=True)
    assert seen["verifications"] == REQUESTS
    assert seen["connections"] <= 4, seen


async def test_without_the_pool_each_check_is_a_new_connection(
    sandbox: RunningSandbox, make_gateway: GatewayFactory, counting_backends: CountingBackends
) -> None:
    # The contrast, and proof that the counter counts: the pitfall the snippet's pool avoids.
    seen = await _protected_requests_after_login(sandbox, make_gateway, counting_backends, keepalive=False)
    assert seen["verifications"] == REQUESTS
    assert seen["connections"] >= REQUESTS - 5, seen


def test_the_guide_shows_the_shipped_snippet() -> None:
    guide = (SNIPPET.parents[2] / "docs" / "gateways.md").read_text()
    shown = guide.split("```nginx\n", 1)[1].split("```", 1)[0]
    assert shown == SNIPPET.read_text()
