"""CleverClients on a running sandbox, over real loopback HTTP, and a count of what reached it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx

from app.clever import CleverClient, CleverCredentials, CleverHTTP, RetryPolicy
from app.clever.http import DEFAULT_BODY_LIMIT
from clever_sandbox.config import SandboxConfig

# Real retries, short waits.
FAST_RETRY = RetryPolicy(attempts=3, base_backoff=0.01, max_backoff=0.05, max_rate_limit_wait=3.0)

# A fault that only counts: it answers normally and is never used up within a test.
COUNTING = 100_000


@contextlib.asynccontextmanager
async def sandbox_clever(
    url: str, config: SandboxConfig, *, body_limit: int = DEFAULT_BODY_LIMIT
) -> AsyncIterator[CleverClient]:
    """A CleverClient whose OAuth and API hosts are both the sandbox at `url`; closed on exit."""
    oauth, api = CleverHTTP(url), CleverHTTP(url)
    try:
        yield CleverClient(
            oauth=oauth,
            api=api,
            credentials=CleverCredentials(config.client_id, config.client_secret),
            retry=FAST_RETRY,
            body_limit=body_limit,
        )
    finally:
        await oauth.aclose()
        await api.aclose()


async def count_requests(url: str, path: str, *, method: str = "GET", latency_ms: float = 0) -> None:
    """Arms a pass-through fault on `path`; `requests_seen` then tells how many matched it."""
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.post(
            "/sandbox/faults",
            json={
                "path": path,
                "method": method,
                "status": None,
                "latency_ms": latency_ms,
                "count": COUNTING,
            },
        )
    response.raise_for_status()


async def requests_seen(url: str, path: str) -> int:
    """How many requests the counting fault on `path` has seen (it must still be armed)."""
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.get("/sandbox/faults")
    response.raise_for_status()
    counts = [rule["count"] for rule in response.json()["data"] if rule["path"] == path]
    assert len(counts) == 1, f"expected one fault on {path}, found {len(counts)}"
    count = counts[0]
    assert isinstance(count, int)
    return COUNTING - count
