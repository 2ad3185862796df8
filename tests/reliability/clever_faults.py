"""What the Clever fault tests share: arming faults, reading what a login answered, and what it left."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from redis.asyncio import Redis

from tests.conftest import RunningSandbox
from tests.support.browser import Browser

# Seconds one call to Clever may take in these tests (CLEVER_TIMEOUT), retries included.
CALL_TIMEOUT = 2
# A generous bound on any answer here: a few sequential calls, each within CALL_TIMEOUT.
ANSWER_BOUND = 15.0
# A count no test uses up, so that what is left of it tells how many requests it saw.
MANY = 1000

TOKENS = "/oauth/tokens"
SECTIONS = "/v3.1/users/*/sections"


def user_record(user_id: str) -> str:
    """The one Data API read a login cannot do without: sections, resources and a contact's
    students may be missing from a login (README, "Partial rosters"), the user record may not."""
    return f"/v3.1/users/{user_id}"


DATA_API = "/v3.1/*"


@dataclass
class Answer:
    response: httpx.Response
    seconds: float

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def code(self) -> str:
        """The stable error code, from the JSON body or the friendly page."""
        if self.response.headers.get("content-type", "").startswith("application/json"):
            return str(self.response.json()["error"])
        marker = "Error code: "
        text = self.response.text
        return text.split(marker, 1)[1].split("<", 1)[0] if marker in text else ""


async def arm(sandbox: RunningSandbox, path: str, **rule: Any) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as control:
        answer = await control.post("/sandbox/faults", json={"path": path, **rule})
    assert answer.status_code == 201, answer.text


async def clear(sandbox: RunningSandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as control:
        assert (await control.delete("/sandbox/faults")).status_code == 204


async def seen(sandbox: RunningSandbox, path: str, armed: int = MANY) -> int:
    """How many requests the fault armed on `path` with count `armed` has matched."""
    async with httpx.AsyncClient(base_url=sandbox.url) as control:
        rules = (await control.get("/sandbox/faults")).json()["data"]
    left = [rule["count"] for rule in rules if rule["path"] == path]
    return armed - (left[0] if left else 0)


async def log_in(browser: Browser, user_id: str) -> Answer:
    """A whole login; the callback's answer and how long it took."""
    start = await browser.start_login()
    assert start.response.status_code == 302, start.response.text
    clever = await browser.sign_in_at_clever(start.location, user_id)
    assert clever.response.status_code == 302, clever.response.text
    began = time.monotonic()
    step = await browser.callback(clever.location)
    return Answer(step.response, time.monotonic() - began)


async def session_keys(redis: Redis, key_prefix: str) -> list[bytes]:
    return [key async for key in redis.scan_iter(match=f"{key_prefix}s:*")]


def assert_friendly_retry_page(answer: Answer, status: int, code: str) -> None:
    """A page for a person: the status and code, and a link to try again; never a trace."""
    assert (answer.status, answer.code) == (status, code), answer.response.text[:300]
    assert answer.response.headers["content-type"].startswith("text/html")
    assert 'href="/auth/login"' in answer.response.text
    assert "Traceback" not in answer.response.text
    assert answer.seconds < ANSWER_BOUND
    if status == 503:
        assert 1 <= int(answer.response.headers["retry-after"]) <= 60
