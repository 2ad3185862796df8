"""Clever's rate limit in the sandbox: a fixed budget per token per minute, with X-RateLimit-* headers
on the 429 (as Clever documents) or on every answer."""

from __future__ import annotations

import math
import time

from clever_sandbox.config import SandboxConfig
from clever_sandbox.tokens import RateLimiter
from tests.sandbox.asgi import local_sandbox, token_answer
from tests.support.clock import Clock

LIMIT = 3


async def test_budget_then_429_with_headers_in_every_answer_mode() -> None:
    async with local_sandbox(SandboxConfig(rate_limit_per_minute=LIMIT, rate_headers="every")) as local:
        token = local.sandbox.tokens.district_token(
            local.sandbox.store.district_ids()[0], local.config.client_id
        )
        other = local.sandbox.tokens.district_token(
            local.sandbox.store.district_ids()[1], local.config.client_id
        )
        headers = {"Authorization": f"Bearer {token}"}
        started = time.time()

        answers = [await local.http.get("/v3.0/me", headers=headers) for _ in range(LIMIT + 1)]
        someone_else = await local.http.get("/v3.0/me", headers={"Authorization": f"Bearer {other}"})

    assert [a.status_code for a in answers] == [200] * LIMIT + [429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert {a.headers["X-RateLimit-Limit"] for a in answers} == {str(LIMIT)}
    throttled = answers[-1]
    assert throttled.json() == {"message": "Too Many Requests"}
    reset = int(throttled.headers["X-RateLimit-Reset"])
    assert math.ceil(started) <= reset <= math.ceil(time.time()) + 60
    assert reset == int(answers[0].headers["X-RateLimit-Reset"]), "one fixed window"
    assert someone_else.status_code == 200, "the budget is per token"


async def test_by_default_only_the_429_carries_the_headers() -> None:
    async with local_sandbox(SandboxConfig(rate_limit_per_minute=LIMIT)) as local:
        token = local.sandbox.tokens.district_token(
            local.sandbox.store.district_ids()[0], local.config.client_id
        )
        headers = {"Authorization": f"Bearer {token}"}
        answers = [await local.http.get("/v3.0/me", headers=headers) for _ in range(LIMIT + 1)]

    assert [a.status_code for a in answers] == [200] * LIMIT + [429]
    for answer in answers[:-1]:
        assert not any(name.lower().startswith("x-ratelimit-") for name in answer.headers)
    throttled = answers[-1]
    assert throttled.headers["X-RateLimit-Limit"] == str(LIMIT)
    assert throttled.headers["X-RateLimit-Remaining"] == "0"
    assert int(throttled.headers["X-RateLimit-Reset"]) > time.time()


async def test_userinfo_is_rate_limited_too() -> None:
    async with local_sandbox(SandboxConfig(rate_limit_per_minute=1)) as local:
        login = local.sandbox.store.demo_logins()[0]
        token = (await token_answer(local, login.user_id))["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        statuses = [(await local.http.get("/userinfo", headers=headers)).status_code for _ in range(2)]
    assert statuses == [200, 429]


def test_the_window_resets_after_a_minute() -> None:
    clock = Clock(now=100.0)
    limiter = RateLimiter(limit=2, clock=clock)
    assert [limiter.hit("t").allowed for _ in range(3)] == [True, True, False]
    assert limiter.hit("t").reset_epoch == 160
    clock.now = 159.9
    assert limiter.hit("t").allowed is False
    clock.now = 160.0
    status = limiter.hit("t")
    assert status.allowed is True
    assert status.remaining == 1
