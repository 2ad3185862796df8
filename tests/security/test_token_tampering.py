"""Cookie and bearer tampering: anything but a ticket this service issued, unchanged, is no session,
answers 401 `no_session` (never a 500), and a forged ticket costs no Redis write."""

from __future__ import annotations

import asyncio
import base64

import httpx
import pytest
from redis.asyncio import Redis

from app.crypto.keyring import Keyring
from app.crypto.ticket import Ticket
from app.sessions.store import TICKET_PURPOSE
from tests.security.conftest import LOGIN_COOKIE, SESSION_COOKIE, error_code
from tests.support.backend import SESSION_SECRET
from tests.support.browser import Browser

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def character_changes(token: str) -> list[str]:
    """The token with each base64url character replaced by its neighbour in the alphabet."""
    variants = []
    for index, char in enumerate(token):
        if char in _B64:
            other = _B64[(_B64.index(char) + 1) % len(_B64)]
            variants.append(token[:index] + other + token[index + 1 :])
    return variants


def bit_flips(token: str) -> list[str]:
    """The token with one bit of its id, key or MAC flipped (every eighth bit, re-encoded)."""
    version, *parts = token.split(".")
    variants = []
    for which, part in enumerate(parts):
        raw = bytearray(_unb64(part))
        for bit in range(0, len(raw) * 8, 8):
            flipped = bytearray(raw)
            flipped[bit // 8] ^= 1 << (bit % 8)
            changed = list(parts)
            changed[which] = _b64(bytes(flipped))
            variants.append(".".join((version, *changed)))
    return variants


def rewritings(token: str) -> dict[str, str]:
    """Other spellings and damaged forms of one ticket."""
    version, ident, key, mac = token.split(".")
    return {
        "truncated-by-1": token[:-1],
        "truncated-half": token[: len(token) // 2],
        "mac-dropped": ".".join((version, ident, key)),
        "extra-part": token + ".AAAA",
        "version-v2": ".".join(("v2", ident, key, mac)),
        "version-V1": ".".join(("V1", ident, key, mac)),
        "version-v0": ".".join(("v0", ident, key, mac)),
        "version-missing": ".".join((ident, key, mac)),
        "padded": ".".join((version, ident + "=", key, mac)),
        "standard-base64": ".".join((version, ident.replace("-", "+").replace("_", "/"), key, mac))
        if any(c in ident for c in "-_")
        else ".".join((version, "+" + ident[1:], key, mac)),
        "junk-character": ".".join((version, ident[:5] + "!" + ident[5:], key, mac)),
        "whitespace-inside": ".".join((version, ident[:5] + " " + ident[5:], key, mac)),
        "id-and-key-swapped": ".".join((version, key, ident, mac)),
        "non-ascii": token[:-1] + "é",
        "doubled": token + token,
        "empty-parts": "v1...",
    }


@pytest.fixture
async def session_ticket(logged_in: Browser) -> str:
    return str(logged_in.http.cookies[SESSION_COOKIE])


async def _answers(shared_backend: str, token: str) -> list[httpx.Response]:
    cookie, bearer = f"{SESSION_COOKIE}={token}".encode(), f"Bearer {token}".encode()  # bytes: non-ASCII too
    async with httpx.AsyncClient() as client:
        by_cookie = await client.get(f"{shared_backend}/auth/session", headers={b"cookie": cookie})
        by_bearer = await client.get(f"{shared_backend}/auth/session", headers={b"authorization": bearer})
        verify = await client.get(f"{shared_backend}/auth/verify", headers={b"authorization": bearer})
    return [by_cookie, by_bearer, verify]


def _all_refused(answers: list[httpx.Response]) -> bool:
    return all((a.status_code, error_code(a)) == (401, "no_session") for a in answers)


async def test_the_untouched_ticket_works(session_ticket: str, shared_backend: str) -> None:
    """The control for the tests below: they fail for the change they make, nothing else."""
    answers = await _answers(shared_backend, session_ticket)
    assert [a.status_code for a in answers] == [200, 200, 200]


async def _accepted(backend: str, variants: list[str]) -> list[str]:
    """The variants a bearer request to /auth/session does not refuse with 401 `no_session`."""
    limit = asyncio.Semaphore(8)
    async with httpx.AsyncClient() as client:

        async def refused(variant: str) -> bool:
            async with limit:
                answer = await client.get(
                    f"{backend}/auth/session", headers={b"authorization": f"Bearer {variant}".encode()}
                )
            return (answer.status_code, error_code(answer)) == (401, "no_session")

        verdicts = await asyncio.gather(*(refused(variant) for variant in variants))
    return [variant for variant, ok in zip(variants, verdicts, strict=True) if not ok]


async def test_every_single_character_change_is_401(session_ticket: str, shared_backend: str) -> None:
    assert await _accepted(shared_backend, character_changes(session_ticket)) == []


async def test_every_flipped_bit_is_401(session_ticket: str, shared_backend: str) -> None:
    assert await _accepted(shared_backend, bit_flips(session_ticket)) == []


async def test_rewritten_and_damaged_tickets_are_401_by_cookie_bearer_and_verify(
    session_ticket: str, shared_backend: str
) -> None:
    accepted = {
        name: variant
        for name, variant in rewritings(session_ticket).items()
        if not _all_refused(await _answers(shared_backend, variant))
    }
    assert accepted == {}


async def test_a_validly_signed_ticket_with_an_unknown_id_is_401_and_writes_nothing(
    shared_backend: str, redis: Redis, shared_prefix: str
) -> None:
    """Strict mode: a ticket signed with the right secret but never issued is not adopted."""
    forged = Ticket.new().encode(Keyring.from_secret(SESSION_SECRET).ticket_signing, TICKET_PURPOSE)
    before = sorted([key async for key in redis.scan_iter(match=f"{shared_prefix}*")])
    assert _all_refused(await _answers(shared_backend, forged))
    after = sorted([key async for key in redis.scan_iter(match=f"{shared_prefix}*")])
    assert after == before


async def test_a_ticket_signed_with_another_secret_is_401(shared_backend: str) -> None:
    other = Keyring.from_secret("an0ther-Secret-of-sufficient-length-xyz42")
    assert _all_refused(
        await _answers(shared_backend, Ticket.new().encode(other.ticket_signing, TICKET_PURPOSE))
    )


async def test_the_pending_login_cookie_is_no_session(shared_backend: str) -> None:
    """A ticket's MAC names its purpose: the pending-login cookie cannot stand in for a session."""
    async with Browser(shared_backend) as browser:
        await browser.start_login()
        login_ticket = str(browser.http.cookies[LOGIN_COOKIE])
    assert _all_refused(await _answers(shared_backend, login_ticket))


async def test_a_session_ticket_is_no_pending_login_cookie(
    logged_in: Browser, session_ticket: str, shared_backend: str
) -> None:
    start = await logged_in.start_login()
    state = start.query["state"]
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            f"{shared_backend}/auth/callback",
            params={"code": "abc", "state": state},
            headers={"Cookie": f"{LOGIN_COOKIE}={session_ticket}"},
        )
    assert (answer.status_code, error_code(answer)) == (400, "login_expired")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Basic dXNlcjpwYXNz", "Token abc", "Bearer v1.A.B.C", "Bearer\tx", "bearer " + "A" * 300],
)
async def test_malformed_authorization_headers_are_401(authorization: str, shared_backend: str) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{shared_backend}/auth/session", headers={"Authorization": authorization})
    assert (answer.status_code, error_code(answer)) == (401, "no_session")


async def test_a_huge_cookie_value_is_401_not_an_error(shared_backend: str) -> None:
    assert _all_refused(await _answers(shared_backend, "v1." + "A" * 3000))
