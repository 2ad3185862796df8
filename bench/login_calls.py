"""Clever calls and sequential round trips per login, observed at the sandbox.

    .venv/bin/python -m bench.login_calls

Runs the sandbox and the backend on loopback ports and a Redis (app.dev.localredis), then logs demo
users in through the whole flow (backend /auth/login, sandbox authorize, backend /auth/callback);
the backend prefetches Clever's discovery document and keys at start-up.
Every Clever endpoint gets a fault rule that answers normally after `--latency-ms`; a rule's
spent count says how many calls reached that endpoint. The callback's duration divided by the
latency gives the number of sequential round trips to Clever (k) on its critical path.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from app.dev.localredis import local_redis
from app.web.factory import create_app
from clever_sandbox import create_sandbox_app
from clever_sandbox.config import SandboxConfig
from tests.support.backend import backend_settings
from tests.support.browser import Browser
from tests.support.demo import demo_user
from tests.support.servers import serve_in_thread

ENDPOINTS = [  # most specific first: the sandbox applies the first rule that matches
    ("POST", "/oauth/tokens"),
    ("GET", "/oauth/tokens"),
    ("GET", "/.well-known/openid-configuration"),
    ("GET", "/oauth/certs"),
    ("GET", "/v3.0/me"),
    ("GET", "/v3.1/users/*/sections"),
    ("GET", "/v3.1/users/*/resources"),
    ("GET", "/v3.1/users/*/mystudents"),
    ("GET", "/v3.1/users/*"),
    # The district directory (app/roster/directory.py): a district's first login only.
    ("GET", "/v3.1/districts/*"),
    ("GET", "/v3.1/schools"),
]
ARMED = 1_000_000


@contextmanager
def running(latency_ms: int) -> Iterator[tuple[str, str, SandboxConfig]]:
    config = SandboxConfig(rate_limit_per_minute=10**9, rate_headers="every")
    sandbox_app = create_sandbox_app(config)
    with local_redis() as redis_url, serve_in_thread(sandbox_app) as sandbox_url:
        settings = backend_settings(
            sandbox_url, config, redis_url=redis_url, key_prefix=f"bench:{uuid.uuid4().hex[:8]}:"
        )
        with serve_in_thread(create_app(settings)) as backend_url:
            yield sandbox_url, backend_url, config


async def arm(control: httpx.AsyncClient, latency_ms: int) -> None:
    await control.delete("/sandbox/faults")
    rules = [
        {"path": path, "method": method, "status": None, "latency_ms": latency_ms, "count": ARMED}
        for method, path in ENDPOINTS
    ]
    (await control.post("/sandbox/faults", json=rules)).raise_for_status()


async def spent(control: httpx.AsyncClient) -> dict[str, int]:
    rules = (await control.get("/sandbox/faults")).json()["data"]
    left = {(rule["method"], rule["path"]): rule["count"] for rule in rules}
    return {f"{m} {p}": ARMED - left.get((m, p), 0) for m, p in ENDPOINTS if ARMED - left.get((m, p), 0)}


async def one_login(backend: str, user_id: str) -> float:
    async with Browser(backend) as browser:
        start = await browser.start_login()
        clever = await browser.sign_in_at_clever(start.location, user_id)
        began = time.perf_counter()
        landed = await browser.callback(clever.location)
        elapsed = time.perf_counter() - began
        assert landed.response.status_code == 302, landed.response.text
    return elapsed


async def measure(latency_ms: int) -> None:
    with running(latency_ms) as (sandbox_url, backend, _config):
        async with httpx.AsyncClient(base_url=sandbox_url) as control:
            # The same seed gives the same district: a second store names the demo users.
            store = create_sandbox_app(SandboxConfig()).state.sandbox.store
            scenarios = [
                ("teacher, first login (district token not yet cached)", "teacher", True),
                ("teacher, warm", "teacher", True),
                ("teacher + staff, warm", "teacher_staff", True),
                ("student, warm", "student", True),
                ("contact, warm", "contact", True),
                ("teacher, warm, no id_token (OIDC off)", "teacher", False),
            ]
            print(f"Clever latency injected per call: {latency_ms} ms\n")
            print(f"{'scenario':58} {'calls':>5} {'k':>4}  by endpoint")
            for label, kind, oidc in scenarios:
                await control.put("/sandbox/oidc", json={"enabled": oidc})
                await arm(control, latency_ms)
                seconds = await one_login(backend, demo_user(store, kind)["id"])
                calls = await spent(control)
                trips = seconds * 1000 / latency_ms
                detail = ", ".join(f"{name} x{count}" for name, count in calls.items())
                print(f"{label:58} {sum(calls.values()):>5} {trips:>4.1f}  {detail}")
            await control.delete("/sandbox/faults")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(measure(args.latency_ms))


if __name__ == "__main__":
    main()
