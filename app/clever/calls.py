"""How one call to Clever is made: each attempt under the token's rate budget and the host's
circuit breaker, its answer read within bounds, Clever's errors mapped onto `app.clever.errors`,
and GETs retried per the `RetryPolicy`. The endpoints themselves are `app.clever.client`."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import re
import time
from typing import Any

from app.clever import errors
from app.clever.breaker import BreakerPolicy, CircuitBreaker, CircuitOpen
from app.clever.budget import BudgetExhausted, RateBudget
from app.clever.http import (
    Answer,
    BodyTooLarge,
    CleverHTTP,
    NotJSON,
    Params,
    TransportFailed,
    is_json,
    read_json_body,
)
from app.clever.observer import CleverObserver
from app.clever.priority import Priority, current_priority
from app.clever.ratelimit import RateLimit, rate_limit
from app.clever.retry import RETRY_STATUSES, RetryPolicy

logger = logging.getLogger("app.clever")

ERROR_BODY_LIMIT = 64 * 1024
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class Caller:
    """Makes the calls of a `CleverClient` to its two hosts (see there for the policies).

    `basic_auth` is the Authorization header for calls made with the app's own credentials.
    """

    def __init__(
        self,
        *,
        oauth: CleverHTTP,
        api: CleverHTTP,
        basic_auth: str,
        retry: RetryPolicy,
        body_limit: int,
        attempt_timeout: float,
        call_timeout: float,
        breaker: BreakerPolicy | None,
        budget: RateBudget,
        observer: CleverObserver | None,
    ) -> None:
        self._oauth = oauth
        self._basic = basic_auth
        self._retry = retry
        self._body_limit = body_limit
        self._attempt_timeout = attempt_timeout
        self._call_timeout = call_timeout
        self._breakers = {id(oauth): CircuitBreaker(breaker), id(api): CircuitBreaker(breaker)}
        self._budget = budget
        self._observer = observer

    def with_body_limit(self, body_limit: int) -> Caller:
        """This caller (hosts, breakers, budget, policies) reading bodies up to `body_limit`."""
        other = copy.copy(self)
        other._body_limit = body_limit
        return other

    async def once(
        self,
        http: CleverHTTP,
        method: str,
        url: str,
        *,
        operation: str,
        json_body: dict[str, str] | None = None,
        basic: bool = False,
    ) -> bytes:
        """One attempt, never retried (for a request that must not be repeated)."""
        return await self._attempt(
            http,
            method,
            url,
            operation=operation,
            json_body=json_body,
            basic=basic,
            deadline=_Deadline(self._call_timeout),
        )

    async def get(
        self,
        http: CleverHTTP,
        url: str,
        *,
        operation: str,
        token: str | None = None,
        params: Params | None = None,
        basic: bool = False,
    ) -> bytes:
        """A GET with the retry policy: it is idempotent, so transient failures are tried again."""
        policy = self._retry
        deadline = _Deadline(self._call_timeout)
        background = current_priority() is Priority.BACKGROUND
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._attempt(
                    http,
                    "GET",
                    url,
                    operation=operation,
                    token=token,
                    params=params,
                    basic=basic,
                    deadline=deadline,
                )
            except errors.CleverRateLimited as exc:
                if isinstance(exc.__cause__, BudgetExhausted):
                    wait = None  # a spent budget has already waited as long as it may
                elif background and token is not None and self._budget.headroom(token) is not None:
                    wait = 0.0  # the 429 emptied the token's window: its budget waits for the reset
                else:
                    wait = policy.rate_limit_wait(exc.reset_at)
                if wait is None or attempt >= policy.attempts or wait >= deadline.left():
                    exc.attempts = attempt
                    raise
            except errors.CleverUnavailable as exc:
                wait = policy.backoff(attempt)
                if not exc.transient or attempt >= policy.attempts or wait >= deadline.left():
                    exc.attempts = attempt
                    raise
            logger.info(
                "Clever call failed, retrying",
                extra={
                    "event": "clever_retry",
                    "operation": operation,
                    "attempt": attempt,
                    "wait": round(wait, 3),
                },
            )
            await policy.sleep(wait)

    async def _attempt(
        self,
        http: CleverHTTP,
        method: str,
        url: str,
        *,
        operation: str,
        deadline: _Deadline,
        token: str | None = None,
        params: Params | None = None,
        basic: bool = False,
        json_body: dict[str, str] | None = None,
    ) -> bytes:
        """One request; the body of a 2xx JSON answer, or the CleverError that describes it.

        `deadline` ends the attempt, waiting for budget included, except a background call's:
        holding it back is our choice, not Clever's slowness, so that wait moves the deadline.
        """
        priority = current_priority()
        background = priority is Priority.BACKGROUND
        loop = asyncio.get_running_loop()
        queued = loop.time()
        try:
            window = await self._budget.acquire(
                token, max_wait=None if background else deadline.left(), priority=priority
            )
        except BudgetExhausted as exc:
            self._observe(operation, "budget_spent", None, 0.0)
            raise errors.CleverRateLimited(operation, "rate budget spent", reset_at=exc.reset_at) from exc
        if background:
            deadline.at += loop.time() - queued
        breaker = self._breakers[id(http)]
        said: RateLimit | None = None
        status: int | None = None
        outcome = "cancelled"
        started = time.perf_counter()
        try:
            await breaker.admit(max_wait=deadline.left())
        except CircuitOpen as exc:
            self._budget.release(window, None, sent=False)
            self._observe(operation, "circuit_open", None, 0.0)
            raise errors.CleverUnavailable(
                operation, "circuit open", transient=False, retry_after=exc.retry_after
            ) from exc
        except BaseException:
            self._budget.release(window, None, sent=False)
            raise
        try:
            if basic:
                headers: dict[str, str] | None = {"Authorization": self._basic}
            else:
                headers = {"Authorization": f"Bearer {token}"} if token is not None else None
            try:
                async with (
                    asyncio.timeout(min(self._attempt_timeout, max(0.0, deadline.left()))),
                    http.request(method, url, params=params, headers=headers, json=json_body) as response,
                ):
                    said, status = rate_limit(response.headers), response.status
                    body = await self._read(response, operation, said)
            except TransportFailed as exc:
                raise errors.CleverUnavailable(operation, str(exc)) from exc
            except TimeoutError as exc:  # the attempt's own deadline
                raise errors.CleverUnavailable(operation, "timed out") from exc
            outcome = "ok"
            breaker.succeeded()
            return body
        except errors.CleverError as exc:
            outcome = _outcome(exc)
            if not isinstance(exc, errors.CleverUnavailable):
                breaker.succeeded()  # Clever answered: the host is up
            elif breaker.failed():
                host = "oauth" if http is self._oauth else "api"
                logger.warning("Clever circuit opened", extra={"event": "clever_circuit_open", "host": host})
            raise
        except BaseException:
            breaker.abandoned()
            raise
        finally:
            headroom = self._budget.release(window, said, status=status)
            self._observe(operation, outcome, status, time.perf_counter() - started)
            if headroom is not None and self._observer is not None:
                self._observer.headroom(headroom)
            if status == 429:
                await self._budget.share_spent(token)

    def _observe(self, operation: str, outcome: str, status: int | None, seconds: float) -> None:
        if self._observer is not None:
            self._observer.attempt(operation, outcome, status, seconds)

    async def _read(self, response: Answer, operation: str, said: RateLimit) -> bytes:
        status = response.status
        if not 200 <= status < 300:
            raise await _error(response, operation, said)
        try:
            return await read_json_body(response.headers, response.chunks(), self._body_limit)
        except NotJSON as exc:
            raise errors.CleverMalformed(operation, "answer is not JSON", status=status) from exc
        except BodyTooLarge as exc:
            raise errors.CleverMalformed(
                operation, f"answer is over {self._body_limit} bytes", status=status
            ) from exc


class _Deadline:
    """When a call must be over, in event-loop time."""

    __slots__ = ("at",)

    def __init__(self, seconds: float) -> None:
        self.at = asyncio.get_running_loop().time() + seconds

    def left(self) -> float:
        return self.at - asyncio.get_running_loop().time()


def _outcome(exc: errors.CleverError) -> str:
    if isinstance(exc, errors.CleverUnavailable):
        return "unavailable"
    if isinstance(exc, errors.CleverRateLimited):
        return "rate_limited"
    if isinstance(exc, errors.CleverMalformed):
        return "malformed"
    return "rejected"


async def _error(response: Answer, operation: str, said: RateLimit) -> errors.CleverError:
    status = response.status
    if status == 429:
        return errors.CleverRateLimited(operation, "rate limited", reset_at=said.reopens_at(time.time()))
    if status in RETRY_STATUSES:
        return errors.CleverUnavailable(operation, "Clever failed", status=status)
    if status >= 500 and status != 501:
        return errors.CleverUnavailable(operation, "Clever failed", status=status, transient=False)
    code, message = await _error_details(response)
    kind: type[errors.CleverRejected] = errors.CleverRejected
    if status == 401:
        kind = errors.CleverUnauthorized
    elif status == 404:
        kind = errors.CleverNotFound
    elif status == 400 and (code == "invalid_grant" or (message or "").lower().startswith("invalid grant")):
        kind = errors.CleverInvalidGrant
    return kind(operation, "rejected", status=status, error_code=code, clever_message=message)


async def _error_details(response: Answer) -> tuple[str | None, str | None]:
    """Clever's error code and wording from `{"error", "error_description"}` or `{"message"}`."""
    if not is_json(response.headers.get("content-type")):
        return None, None
    try:
        raw = await read_json_body(response.headers, response.chunks(), ERROR_BODY_LIMIT)
        body: Any = json.loads(raw)
    except (BodyTooLarge, NotJSON, ValueError, TransportFailed):
        return None, None
    if not isinstance(body, dict):
        return None, None
    error, description, message = body.get("error"), body.get("error_description"), body.get("message")
    code = error if isinstance(error, str) and _ERROR_CODE.fullmatch(error) else None
    text = next(
        (value for value in (description, message, error) if isinstance(value, str) and value != code), None
    )
    return code, text[:300] if text else None
