"""Pending logins in Redis, behind one small cookie per browser.

The pending-login cookie carries a random browser id and a browser key (signed, as a session
ticket is). Each login the browser starts is one key, named from the browser id and the OAuth
`state`, so a state presented by any other browser names nothing. Its value moves through:

- `P` + the transaction, sealed with the browser key: waiting for Clever to send the browser back;
- `I`: a callback took it (atomically, one Lua call) and is logging the person in;
- `D` + the new session ticket, sealed with the browser key, written in the same round trip as
  the session itself (`completion`): done. A repeated callback in the same
  browser (refresh, back button, a double click) lands on that session instead of an error.

A failed login deletes the key. Every key expires with the transaction's TTL.

What unauthenticated requests may leave in Redis is bounded (SECURITY.md, requirement 30): a
browser may have at most `per_browser` logins started within one TTL, counted in a small sorted
set named from its id (its first login, from a browser without the cookie, is not written there:
a flood of cookieless requests writes one key each, not two), and this process starts at most
`total` logins within one TTL, counted in memory. Past either cap `start` stores nothing and
answers how long to wait.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from app.crypto.keyring import Keyring
from app.crypto.sealing import SealBroken, seal, unseal
from app.crypto.ticket import Ticket, decode_ticket
from app.login.transaction import LoginTransaction
from app.redis_client import KEY_PREFIX, Queued, RedisClient, RedisPipeline
from app.settings import PER_BROWSER_DEFAULT, TOTAL_DEFAULT

TICKET_PURPOSE = "login"
TRANSACTION_TTL_SECONDS = 600  # RFC 9700 asks for short-lived state; Clever's codes live 60 s

# Admit one more login of a browser, or answer the milliseconds until its oldest one expires.
# KEYS[1]: the browser's logins, each scored by when it expires; ARGV: now, TTL (ms), cap, member.
_ADMIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if oldest[2] then
    return math.max(1, tonumber(oldest[2]) - tonumber(ARGV[1]))
  end
  return tonumber(ARGV[2])
end
redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 0
"""

# Take a pending transaction: P becomes I, keeping the TTL; anything else is answered as it is.
_CONSUME = """
local value = redis.call('GET', KEYS[1])
if value and string.sub(value, 1, 1) == 'P' then
  redis.call('SET', KEYS[1], 'I', 'KEEPTTL')
end
return value
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


class StartWindow:
    """How many logins this process started in the last `seconds`, kept per second (at most
    `seconds` buckets however many logins)."""

    def __init__(self, limit: int, seconds: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._seconds = seconds
        self._clock = clock
        self._buckets: deque[list[int]] = deque()  # [second, logins started in it]
        self._count = 0

    def wait(self) -> int:
        """0 when another login may start now, else the seconds until one may."""
        now = int(self._clock())
        while self._buckets and self._buckets[0][0] <= now - self._seconds:
            self._count -= self._buckets.popleft()[1]
        if self._count < self._limit:
            return 0
        return max(1, self._buckets[0][0] + self._seconds - now)

    def add(self) -> None:
        now = int(self._clock())
        if self._buckets and self._buckets[-1][0] == now:
            self._buckets[-1][1] += 1
        else:
            self._buckets.append([now, 1])
        self._count += 1


class PendingLogins:
    def __init__(
        self,
        redis: RedisClient,
        keyring: Keyring,
        *,
        prefix: str = KEY_PREFIX,
        ttl_seconds: int = TRANSACTION_TTL_SECONDS,
        in_flight_wait: float = 10.0,
        poll_interval: float = 0.05,
        per_browser: int = PER_BROWSER_DEFAULT,
        total: int = TOTAL_DEFAULT,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._keys = keyring
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._wait = in_flight_wait
        self._poll = poll_interval
        self._per_browser = per_browser
        self._started = StartWindow(total, ttl_seconds, clock)
        self._wall_clock = wall_clock  # the browser's count is shared by replicas: wall time
        self._consume = redis.register_script(_CONSUME)
        self._admit = redis.register_script(_ADMIT)

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

    def browser_key(self, browser: Ticket) -> str:
        """Where the logins a browser started are counted."""
        digest = hmac.new(
            self._keys.generation(browser.generation).storage_hashing,
            b"browser:" + browser.session_id,
            hashlib.sha256,
        ).hexdigest()
        return f"{self._prefix}txb:{{{digest}}}"

    async def start(self, browser: Ticket, transaction: LoginTransaction, *, first: bool = False) -> int:
        """Store the transaction, or answer (storing nothing) the seconds to wait when this browser
        or this process has started as many logins as it may. `first`: the browser is new, this
        is its only login."""
        wait = self._started.wait()
        if wait:
            return wait
        key = self.key(browser, transaction.state)
        if not first:
            ttl_ms = self._ttl * 1000
            member = key.rsplit("{", 1)[1][:32]
            now_ms = int(self._wall_clock() * 1000)
            # The first login of the browser was not counted: it takes one of the places.
            cap = self._per_browser - 1
            waited_ms = await self._admit(
                keys=[self.browser_key(browser)], args=[now_ms, ttl_ms, cap, member]
            )
            if int(waited_ms):
                return math.ceil(int(waited_ms) / 1000)
        await self._redis.set(
            key, b"P" + seal(browser.key, transaction.to_json(), key.encode()), ex=self._ttl
        )
        self._started.add()
        return 0

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

    def completion(self, browser: Ticket, state: str, *, session_token: str, return_to: str) -> Queued:
        """The write that records the login as done, for the pipeline that stores its session.

        It replaces the in-flight marker only while there is one (SET XX): after `take` the key
        holds `I` until this write, a `fail` or its TTL, and a transaction failed or expired
        meanwhile must stay gone. A plain command rather than a script, so that it can share a
        pipeline on Redis Cluster too."""
        key = self.key(browser, state)
        handoff = json.dumps({"session": session_token, "return_to": return_to}).encode()
        value = b"D" + seal(browser.key, handoff, key.encode())

        def queue(pipe: RedisPipeline) -> None:
            pipe.set(key, value, xx=True, keepttl=True)

        return queue

    async def complete(self, browser: Ticket, state: str, *, session_token: str, return_to: str) -> None:
        """`completion` on its own."""
        async with self._redis.pipeline(transaction=False) as pipe:
            self.completion(browser, state, session_token=session_token, return_to=return_to)(pipe)
            await pipe.execute()

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
