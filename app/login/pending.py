"""Pending logins in Redis, behind one small cookie per browser.

The pending-login cookie carries a random browser id and a browser key (signed, as a session
ticket is). Each login the browser starts is one key, named from the browser id and the OAuth
`state`, so a state presented by any other browser names nothing. Its value moves through:

- `P` + the transaction, sealed with the browser key: waiting for Clever to send the browser back;
- `I`: a callback took it (atomically, one Lua call) and is logging the person in;
- `D` + the new session ticket, sealed with the browser key: done. A repeated callback in the same
  browser (refresh, back button, a double click) lands on that session instead of an error.

A failed login deletes the key. Every key expires with the transaction's TTL.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Literal

from app.crypto.keyring import Keyring
from app.crypto.sealing import SealBroken, seal, unseal
from app.crypto.ticket import Ticket, decode_ticket
from app.login.transaction import LoginTransaction
from app.redis_client import RedisClient

TICKET_PURPOSE = "login"
TRANSACTION_TTL_SECONDS = 600  # RFC 9700 asks for short-lived state; Clever's codes live 60 s

# Take a pending transaction: P becomes I, keeping the TTL; anything else is answered as it is.
_CONSUME = """
local value = redis.call('GET', KEYS[1])
if value and string.sub(value, 1, 1) == 'P' then
  redis.call('SET', KEYS[1], 'I', 'KEEPTTL')
end
return value
"""
# Record the outcome only if the key is still in flight (it may have expired meanwhile).
_COMPLETE = """
if redis.call('GET', KEYS[1]) == 'I' then
  return redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
end
return false
"""


@dataclass(frozen=True, slots=True)
class Taken:
    """The transaction is this callback's to complete."""

    transaction: LoginTransaction


@dataclass(frozen=True, slots=True)
class Done:
    """An earlier callback in this browser completed it; here is the session it made."""

    session_token: str
    return_to: str


@dataclass(frozen=True, slots=True)
class Gone:
    """Unknown, expired, failed, or still in flight past the wait."""

    reason: Literal["unknown", "in_flight"]


Outcome = Taken | Done | Gone


class PendingLogins:
    def __init__(
        self,
        redis: RedisClient,
        keyring: Keyring,
        *,
        prefix: str = "cl:",
        ttl_seconds: int = TRANSACTION_TTL_SECONDS,
        in_flight_wait: float = 10.0,
        poll_interval: float = 0.05,
    ) -> None:
        self._redis = redis
        self._keys = keyring
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._wait = in_flight_wait
        self._poll = poll_interval
        self._consume = redis.register_script(_CONSUME)
        self._complete = redis.register_script(_COMPLETE)

    # -- the browser -------------------------------------------------------------------------

    def new_browser(self) -> Ticket:
        return Ticket.new()

    def encode_browser(self, browser: Ticket) -> str:
        # A browser keeps the secret it was first signed with: its pending logins are named by it.
        return browser.encode(self._keys.generation(browser.generation).transaction_signing, TICKET_PURPOSE)

    def decode_browser(self, text: str | None) -> Ticket | None:
        if not text:
            return None
        retired = [keys.transaction_signing for keys in self._keys.previous]
        return decode_ticket(text, self._keys.transaction_signing, TICKET_PURPOSE, retired_keys=retired)

    # -- transactions ------------------------------------------------------------------------

    def key(self, browser: Ticket, state: str) -> str:
        digest = hmac.new(
            self._keys.generation(browser.generation).storage_hashing,
            b"login:" + browser.session_id + b"|" + state.encode(),
            hashlib.sha256,
        ).hexdigest()
        return f"{self._prefix}tx:{{{digest}}}"

    async def start(self, browser: Ticket, transaction: LoginTransaction) -> None:
        key = self.key(browser, transaction.state)
        await self._redis.set(
            key, b"P" + seal(browser.key, transaction.to_json(), key.encode()), ex=self._ttl
        )

    async def take(self, browser: Ticket, state: str) -> Outcome:
        """Consume the transaction (one Redis call), or learn what became of it."""
        key = self.key(browser, state)
        waited = 0.0
        while True:
            value = await self._consume(keys=[key])
            outcome = self._read(browser, key, value)
            if not (isinstance(outcome, Gone) and outcome.reason == "in_flight") or waited >= self._wait:
                return outcome
            # Another request of this browser (a double click) is completing it: wait for its result.
            await asyncio.sleep(self._poll)
            waited += self._poll

    async def complete(self, browser: Ticket, state: str, *, session_token: str, return_to: str) -> None:
        key = self.key(browser, state)
        handoff = json.dumps({"session": session_token, "return_to": return_to}).encode()
        await self._complete(keys=[key], args=[b"D" + seal(browser.key, handoff, key.encode())])

    async def fail(self, browser: Ticket, state: str) -> None:
        await self._redis.delete(self.key(browser, state))

    def _read(self, browser: Ticket, key: str, value: object) -> Outcome:
        if not isinstance(value, bytes) or not value:
            return Gone("unknown")
        kind, body = value[:1], value[1:]
        if kind == b"I":
            return Gone("in_flight")
        try:
            opened = unseal(browser.key, body, key.encode())
        except SealBroken:
            return Gone("unknown")
        try:
            if kind == b"P":
                return Taken(LoginTransaction.from_json(opened))
            if kind == b"D":
                handoff = json.loads(opened)
                return Done(session_token=str(handoff["session"]), return_to=str(handoff["return_to"]))
        except (ValueError, KeyError, TypeError):  # authentic, but not in this version's format
            return Gone("unknown")
        return Gone("unknown")
