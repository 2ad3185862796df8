"""What a login must guarantee beyond its happy path: identity by Clever id, Clever's tokens kept
on the server, one small pending-login cookie however many tabs, and any replica finishing it."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import BackendFactory, RunningSandbox
from tests.security.conftest import LOGIN_COOKIE, SESSION_COOKIE
from tests.support.browser import Browser
from tests.support.demo import demo_user


async def test_two_people_sharing_an_email_are_two_identities(
    sandbox: RunningSandbox, shared_backend: str
) -> None:
    """Clever does not verify e-mail addresses: the identity is the Clever user id, never the email."""
    store = sandbox.sandbox.store
    first = demo_user(store, "teacher")
    second = next(u for u in store.all("users") if set(u["roles"]) == {"teacher"} and u["id"] != first["id"])
    async with httpx.AsyncClient(base_url=sandbox.url) as control:
        patched = await control.patch(f"/sandbox/users/{second['id']}", json={"email": first["email"]})
        assert patched.status_code == 200
    principals = []
    for user in (first, second):
        async with Browser(shared_backend) as browser:
            await browser.login(user["id"])
            principals.append((await browser.session()).json())
    assert principals[0]["user"]["email"] == principals[1]["user"]["email"] == first["email"]
    assert [p["user"]["id"] for p in principals] == [first["id"], second["id"]]


async def test_clevers_tokens_never_reach_the_browser(sandbox: RunningSandbox, shared_backend: str) -> None:
    user = demo_user(sandbox.sandbox.store, "contact")
    seen: list[str] = []
    async with Browser(shared_backend) as browser:
        landed = await browser.login(user["id"])
        for response in (
            landed.response,
            await browser.session(),
            await browser.http.get(f"{shared_backend}/auth/verify"),
            await browser.http.post(
                f"{shared_backend}/auth/session/refresh", headers={"X-Requested-With": "x"}
            ),
        ):
            seen.append(str(response.headers) + response.text)
    tokens = sandbox.sandbox.tokens.issued_tokens()  # every user and district-app token it issued
    assert tokens
    everything = "\n".join(seen)
    assert [token[:4] for token in tokens if token in everything] == []


async def test_twenty_tabs_logging_in_at_once_share_one_small_cookie(shared_backend: str) -> None:
    async with Browser(shared_backend) as browser:
        await browser.start_login()  # the first one sets the cookie the others then send
        starts = await asyncio.gather(*(browser.start_login() for _ in range(20)))
    set_cookies = {s.response.headers.get("set-cookie", "").split(";", 1)[0] for s in starts}
    assert len(set_cookies) == 1  # the same browser cookie, re-sent, not twenty new ones
    (cookie,) = set_cookies
    assert cookie.startswith(f"{LOGIN_COOKIE}=")
    assert len(cookie) < 4096
    assert len({s.query["state"] for s in starts}) == 20


async def test_a_login_started_on_one_replica_finishes_on_another(
    sandbox: RunningSandbox, make_backend: BackendFactory
) -> None:
    user = demo_user(sandbox.sandbox.store, "teacher")
    with make_backend() as first, make_backend() as second:
        async with Browser(first) as browser:
            start = await browser.start_login()
            clever = await browser.sign_in_at_clever(start.location, user["id"])
            browser.backend_url = second
            landed = await browser.callback(clever.location)
            assert landed.response.status_code == 302
            assert SESSION_COOKIE in browser.http.cookies
            principal = (await browser.session()).json()
    assert principal["user"]["id"] == user["id"]
