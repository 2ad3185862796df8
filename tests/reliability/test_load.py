"""A thousand logins through the sandbox, with latency and faults injected.

Everything on loopback: the sandbox in this process (on a thread), the backend as its own
`clever-login serve` process (so that the two share the machine's cores rather than one GIL),
48 browsers at once. Clever answers after 5-15 ms, fails every 25th sections call with a 500,
and rate-limits every 300th resources call with a 429 whose window reopens within two seconds:
faults our retries must absorb. Expected: every login succeeds, no answer of ours is a 5xx, and
every session validates afterwards. The figures go to stderr (`pytest -s` shows them).
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from clever_sandbox import create_sandbox_app
from clever_sandbox.config import SandboxConfig
from tests.conftest import TEST_REDIRECT_URI, RunningSandbox
from tests.reliability.clever_faults import session_keys
from tests.support.backend import FRONTEND_URL, backend_environ
from tests.support.processes import child_environ, free_port, stop, wait_until_answers
from tests.support.servers import serve_in_thread

LOGINS = 1000
CONCURRENCY = 48
TIME_LIMIT = 60.0  # seconds for the whole wave; the run fails rather than drag on

FAULTS = [
    # First match wins, and `every` lets the others through to the next rule.
    {"path": "/v3.1/users/*/sections", "method": "GET", "status": 500, "every": 25, "latency_ms": 15},
    {"path": "/v3.1/users/*/resources", "method": "GET", "status": 429, "every": 300, "latency_ms": 15},
    {"path": "/v3.1/*", "method": "GET", "latency_ms": 15},
    {"path": "/oauth/tokens", "method": "*", "latency_ms": 10},
    {"path": "/oauth/authorize", "method": "GET", "latency_ms": 5},
]


@pytest.fixture
def load_sandbox() -> Iterator[RunningSandbox]:
    """A sandbox of its own: Clever's real budget (1200/min) would cap this wave at ~6 logins/s,
    which `test_rate_budget` covers; here the limit is out of the way (its headers on every answer,
    so that the client's budget learns the raised limit instead of assuming Clever's)."""
    config = SandboxConfig(
        redirect_uris=(TEST_REDIRECT_URI,), rate_limit_per_minute=1_000_000, rate_headers="every"
    )
    app = create_sandbox_app(config)
    with serve_in_thread(app) as url:
        yield RunningSandbox(url=url, sandbox=app.state.sandbox)


@pytest.fixture
def served_backend(load_sandbox: RunningSandbox, redis_url: str, key_prefix: str) -> Iterator[str]:
    """`clever-login serve` on a free loopback port, pointed at the load sandbox."""
    port = free_port()
    env = child_environ(
        backend_environ(load_sandbox.url, load_sandbox.config, redis_url=redis_url, key_prefix=key_prefix)
    )
    with tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--log-level", "warning"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_answers(f"{url}/healthz", proc)
            yield url
        finally:
            if proc.poll() is None:
                stop(proc, 15, timeout=30)


@dataclass
class Tally:
    seconds: list[float] = field(default_factory=list)
    sessions: list[tuple[str, str, str]] = field(default_factory=list)  # cookie name, value, user id
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def saw(self, response: httpx.Response) -> httpx.Response:
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        return response


async def one_login(http: httpx.AsyncClient, backend: str, user_id: str, tally: Tally) -> None:
    http.cookies.clear()
    began = time.monotonic()
    start = tally.saw(await http.get(f"{backend}/auth/login"))
    if start.status_code != 302:
        tally.failures.append(f"login {start.status_code}")
        return
    clever = await http.get(f"{start.headers['location']}&{urlencode({'login_hint': user_id})}")
    if clever.status_code != 302:
        tally.failures.append(f"authorize {clever.status_code}")
        return
    query = urlsplit(clever.headers["location"]).query
    landed = tally.saw(await http.get(f"{backend}/auth/callback?{query}"))
    if landed.status_code != 302 or not landed.headers["location"].startswith(FRONTEND_URL):
        tally.failures.append(f"callback {landed.status_code} {landed.text[:200]}")
        return
    tally.seconds.append(time.monotonic() - began)
    name, value = next((c.name, c.value) for c in http.cookies.jar if c.name.endswith("session"))
    assert value is not None
    tally.sessions.append((name, value, user_id))


async def test_a_thousand_logins_with_latency_and_faults(
    load_sandbox: RunningSandbox, served_backend: str, redis: Redis, key_prefix: str
) -> None:
    backend = served_backend
    users = [login.user_id for login in load_sandbox.sandbox.store.demo_logins() if login.district_id]
    async with httpx.AsyncClient(base_url=load_sandbox.url) as control:
        assert (await control.post("/sandbox/faults", json=FAULTS)).status_code == 201

    tally = Tally()
    queue: asyncio.Queue[str] = asyncio.Queue()
    for number in range(LOGINS):
        queue.put_nowait(users[number % len(users)])

    async def browser() -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            while not queue.empty():
                await one_login(http, backend, queue.get_nowait(), tally)

    began = time.monotonic()
    async with asyncio.timeout(TIME_LIMIT):
        await asyncio.gather(*(browser() for _ in range(CONCURRENCY)))
    elapsed = time.monotonic() - began

    # Every session is there and valid after the wave, and is the person who logged in.
    async def still_valid(name: str, value: str, user_id: str, http: httpx.AsyncClient) -> bool:
        answer = tally.saw(await http.get(f"{backend}/auth/session", headers={"Cookie": f"{name}={value}"}))
        return answer.status_code == 200 and answer.json()["user"]["id"] == user_id

    async with httpx.AsyncClient(timeout=30) as http:
        valid = 0
        for chunk in range(0, len(tally.sessions), CONCURRENCY):
            batch = tally.sessions[chunk : chunk + CONCURRENCY]
            valid += sum(await asyncio.gather(*(still_valid(*session, http) for session in batch)))
        metrics = (await http.get(f"{backend}/metrics")).text

    calls = _clever_calls(metrics)
    latencies = sorted(tally.seconds)
    figures = {
        "logins": LOGINS,
        "succeeded": len(tally.seconds),
        "seconds": round(elapsed, 1),
        "logins_per_second": round(len(tally.seconds) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000) if latencies else None,
        "clever_500s_absorbed": calls.get("500", 0),
        "clever_429s_absorbed": calls.get("429", 0),
        "our_statuses": dict(sorted(tally.statuses.items())),
    }
    sys.stderr.write(f"\nload test: {figures}\n")

    assert tally.failures == [], tally.failures[:5]
    assert not any(status >= 500 for status in tally.statuses), figures
    assert len(tally.sessions) == LOGINS
    assert valid == LOGINS  # zero lost sessions
    assert len(await session_keys(redis, key_prefix)) == LOGINS
    # The faults did fire, and were absorbed by retries.
    assert calls.get("500", 0) >= 1
    assert calls.get("429", 0) >= 1


def _clever_calls(metrics: str) -> dict[str, float]:
    """Requests to Clever by HTTP status, over every operation."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "clever_calls_total":
                status = sample.labels["status"]
                found[status] = found.get(status, 0) + sample.value
    return found
