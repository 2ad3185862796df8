"""Callback and transaction abuse: malformed, repeated and replayed callbacks cost nothing and
never log anyone in; a callback repeated in parallel exchanges its code exactly once."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from redis.asyncio import Redis

from tests.conftest import RunningSandbox
from tests.security.conftest import LOGIN_COOKIE, SESSION_COOKIE, error_code
from tests.support.browser import Browser, back_from_clever
from tests.support.clever import count_requests, requests_seen

TOKENS = "/oauth/tokens"
WELL_FORMED_STATE = "S" * 43
KILOBYTES_10 = "s" * 10 * 1024


async def _count_exchanges(sandbox: RunningSandbox) -> None:
    await count_requests(sandbox.url, TOKENS, method="POST")


async def _exchanges(sandbox: RunningSandbox) -> int:
    return await requests_seen(sandbox.url, TOKENS)


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("", id="nothing"),
        pytest.param("code=", id="empty-code"),
        pytest.param("state=abc", id="state-only"),
        pytest.param("code=&state=", id="both-empty"),
        pytest.param(f"code=&state={WELL_FORMED_STATE}", id="empty-code-with-state"),
        pytest.param(f"code=a&code=b&state={WELL_FORMED_STATE}", id="code-twice"),
        pytest.param(f"code=a&state={WELL_FORMED_STATE}&state=t", id="state-twice"),
        pytest.param(f"code=a&code=a&state={WELL_FORMED_STATE}&state={WELL_FORMED_STATE}", id="both-twice"),
        pytest.param(f"code=a&state={KILOBYTES_10}", id="10kb-state"),
        pytest.param(f"code={KILOBYTES_10}&state={WELL_FORMED_STATE}", id="10kb-code"),
        pytest.param("code=a&state=%00", id="nul-state"),
        pytest.param(f"code=a%00b&state={WELL_FORMED_STATE}", id="nul-code"),
        pytest.param(f"code=a&state={WELL_FORMED_STATE}%00", id="nul-after-state"),
        pytest.param("code=a&state=%C3%A9t%C3%A9", id="non-ascii-state"),
        pytest.param(f"code=%E2%80%AE&state={WELL_FORMED_STATE}", id="non-ascii-code"),
        pytest.param("code=a&state=%ZZ", id="bad-percent-encoding"),
        pytest.param("code=a&state=a%0d%0aSet-Cookie:%20x=y", id="header-injection"),
        pytest.param("code=a&state=../../etc/passwd", id="path-in-state"),
    ],
)
async def test_malformed_callbacks_are_400_and_call_nobody(
    query: str, sandbox: RunningSandbox, shared_backend: str, redis: Redis, shared_prefix: str
) -> None:
    await _count_exchanges(sandbox)
    async with Browser(shared_backend) as browser:
        await browser.start_login()  # a real pending-login cookie: only the query is wrong
        before = sorted([key async for key in redis.scan_iter(match=f"{shared_prefix}*")])
        answer = (await browser.get(f"{shared_backend}/auth/callback?{query}")).response
        after = sorted([key async for key in redis.scan_iter(match=f"{shared_prefix}*")])
    assert (answer.status_code, error_code(answer)) == (400, "invalid_request")
    assert "set-cookie" not in answer.headers
    assert before == after
    assert await _exchanges(sandbox) == 0


@pytest.mark.parametrize("with_login_cookie", [True, False])
async def test_a_well_formed_but_unknown_state_is_refused_without_an_exchange(
    with_login_cookie: bool, sandbox: RunningSandbox, shared_backend: str
) -> None:
    await _count_exchanges(sandbox)
    async with Browser(shared_backend) as browser:
        if with_login_cookie:
            await browser.start_login()
        answer = (
            await browser.get(f"{shared_backend}/auth/callback?code=abc&state={WELL_FORMED_STATE}")
        ).response
    assert (answer.status_code, error_code(answer)) == (400, "login_expired")
    assert await _exchanges(sandbox) == 0


@pytest.mark.parametrize("query", ["code[]=a&state[]=b", "code=a&state[]=b", "code=a&State=b"])
async def test_array_or_renamed_parameters_are_never_exchanged(
    query: str, sandbox: RunningSandbox, shared_backend: str
) -> None:
    """`state[]` is not `state`: such a callback is at most a Clever-started login, sent back to Clever."""
    await _count_exchanges(sandbox)
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{shared_backend}/auth/callback?{query}")
    if answer.status_code == 302:
        assert answer.headers["location"].startswith(f"{sandbox.url}/oauth/authorize?")
        assert SESSION_COOKIE not in answer.cookies
    else:
        assert (answer.status_code, error_code(answer)) == (400, "invalid_request")
    assert await _exchanges(sandbox) == 0


async def test_a_sequential_replay_never_reaches_clever_again(
    sandbox: RunningSandbox, shared_backend: str
) -> None:
    await _count_exchanges(sandbox)
    async with (
        back_from_clever(shared_backend, sandbox.sandbox.store, "teacher") as (victim, redirect),
        Browser(shared_backend) as thief,
    ):
        first = await victim.callback(redirect)
        assert first.response.status_code == 302
        session = victim.http.cookies[SESSION_COOKIE]
        for _ in range(3):
            stolen = (await thief.callback(redirect)).response
            assert (stolen.status_code, error_code(stolen)) == (400, "login_expired")
            assert SESSION_COOKIE not in thief.http.cookies
        again = await victim.callback(redirect)  # a reload lands on the same session
        assert again.response.status_code == 302
        assert victim.http.cookies[SESSION_COOKIE] == session
        victim.http.cookies.delete(LOGIN_COOKIE)
        lost = (await victim.callback(redirect)).response
        assert (lost.status_code, error_code(lost)) == (400, "login_expired")
    assert await _exchanges(sandbox) == 1


async def test_a_callback_reopened_from_history_after_a_browser_restart_logs_nobody_in(
    sandbox: RunningSandbox, shared_backend: str
) -> None:
    """A shared classroom device: one person logs in and closes the browser; the next reopens the
    callback URL from the history. Nothing of the first login may outlive the browser."""
    async with back_from_clever(shared_backend, sandbox.sandbox.store, "teacher") as (browser, redirect):
        assert (await browser.callback(redirect)).response.status_code == 302
        assert (await browser.session()).status_code == 200
        browser.restart()
        assert (await browser.session()).status_code == 401
        reopened = (await browser.callback(redirect)).response
        assert (reopened.status_code, error_code(reopened)) == (400, "login_expired")
        assert SESSION_COOKIE not in reopened.cookies
        assert (await browser.session()).status_code == 401


async def test_ten_parallel_callbacks_in_one_browser_exchange_the_code_once(
    sandbox: RunningSandbox, shared_backend: str
) -> None:
    await _count_exchanges(sandbox)
    async with back_from_clever(shared_backend, sandbox.sandbox.store, "teacher") as (browser, redirect):
        answers = await asyncio.gather(*(browser.callback(redirect) for _ in range(10)))
    tickets = set()
    for step in answers:
        response = step.response
        assert response.status_code in (302, 409), response.text
        if response.status_code == 302:
            assert step.location == "http://127.0.0.1:5173/home"
            tickets.add(response.cookies[SESSION_COOKIE])
        else:
            assert error_code(response) == "login_in_progress"
    assert len(tickets) == 1  # every tab that landed holds the one session made
    assert await _exchanges(sandbox) == 1


async def test_ten_parallel_callbacks_from_other_browsers_exchange_nothing(
    sandbox: RunningSandbox, shared_backend: str
) -> None:
    await _count_exchanges(sandbox)
    async with back_from_clever(shared_backend, sandbox.sandbox.store, "teacher") as (victim, redirect):
        thieves = [Browser(shared_backend) for _ in range(10)]
        try:
            answers = await asyncio.gather(*(thief.callback(redirect) for thief in thieves))
            assert all(SESSION_COOKIE not in thief.http.cookies for thief in thieves)
        finally:
            for thief in thieves:
                await thief.http.aclose()
        assert {(a.response.status_code, error_code(a.response)) for a in answers} == {(400, "login_expired")}
        assert await _exchanges(sandbox) == 0
        assert (await victim.callback(redirect)).response.status_code == 302
    assert await _exchanges(sandbox) == 1


async def test_a_state_never_travels_back_in_a_redirect(sandbox: RunningSandbox, shared_backend: str) -> None:
    async with back_from_clever(shared_backend, sandbox.sandbox.store, "teacher") as (browser, redirect):
        state = parse_qs(urlsplit(redirect).query)["state"][0]
        landed = await browser.callback(redirect)
    assert state not in landed.location
    assert "code=" not in landed.location
    assert landed.response.headers["referrer-policy"] == "no-referrer"
    assert landed.response.headers["cache-control"] == "no-store"
