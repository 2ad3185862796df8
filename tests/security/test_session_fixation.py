"""Session fixation: whatever session cookie a browser carried before a login (planted by someone
else or left by the last person at a shared device), the login ends with a new one and the old
one is dead."""

from __future__ import annotations

import httpx

from app.crypto.keyring import Keyring
from app.crypto.ticket import Ticket
from app.sessions.store import TICKET_PURPOSE
from tests.conftest import RunningSandbox
from tests.security.conftest import SESSION_COOKIE
from tests.support.backend import SESSION_SECRET
from tests.support.browser import Browser
from tests.support.demo import demo_user


async def _status(shared_backend: str, ticket: str) -> int:
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            f"{shared_backend}/auth/session", headers={"Authorization": f"Bearer {ticket}"}
        )
    return answer.status_code


async def test_a_planted_live_session_is_replaced_and_ended(
    sandbox: RunningSandbox, shared_backend: str
) -> None:
    store = sandbox.sandbox.store
    attacker_user, victim_user = demo_user(store, "staff"), demo_user(store, "teacher")
    async with Browser(shared_backend) as attacker:
        await attacker.login(attacker_user["id"])
        planted = str(attacker.http.cookies[SESSION_COOKIE])
    async with Browser(shared_backend) as victim:
        victim.http.cookies.set(SESSION_COOKIE, planted, domain="127.0.0.1")
        assert (await victim.session()).json()["user"]["id"] == attacker_user["id"]
        landed = await victim.login(victim_user["id"])
        assert landed.response.status_code == 302
        fresh = str(victim.http.cookies[SESSION_COOKIE])
        assert (await victim.session()).json()["user"]["id"] == victim_user["id"]
    assert fresh != planted
    assert await _status(shared_backend, planted) == 401
    assert await _status(shared_backend, fresh) == 200


async def test_a_planted_never_issued_ticket_is_not_adopted(
    sandbox: RunningSandbox, shared_backend: str
) -> None:
    """Strict mode: even a ticket with a valid signature is never turned into the new session."""
    user = demo_user(sandbox.sandbox.store, "teacher")
    planted = Ticket.new().encode(Keyring.from_secret(SESSION_SECRET).ticket_signing, TICKET_PURPOSE)
    async with Browser(shared_backend) as victim:
        victim.http.cookies.set(SESSION_COOKIE, planted, domain="127.0.0.1")
        await victim.login(user["id"])
        fresh = str(victim.http.cookies[SESSION_COOKIE])
    assert fresh != planted
    assert await _status(shared_backend, planted) == 401
    assert await _status(shared_backend, fresh) == 200


async def test_a_garbage_cookie_does_not_stop_a_login(sandbox: RunningSandbox, shared_backend: str) -> None:
    user = demo_user(sandbox.sandbox.store, "teacher")
    async with Browser(shared_backend) as browser:
        browser.http.cookies.set(SESSION_COOKIE, "not-a-ticket", domain="127.0.0.1")
        landed = await browser.login(user["id"])
        assert landed.response.status_code == 302
        assert (await browser.session()).status_code == 200


async def test_each_login_of_the_same_person_gets_its_own_session(
    sandbox: RunningSandbox, shared_backend: str, logged_in: Browser
) -> None:
    first = str(logged_in.http.cookies[SESSION_COOKIE])
    await logged_in.login(demo_user(sandbox.sandbox.store, "teacher")["id"])  # the same person again
    second = str(logged_in.http.cookies[SESSION_COOKIE])
    assert first != second
    assert await _status(shared_backend, first) == 401
