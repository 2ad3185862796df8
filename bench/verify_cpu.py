"""CPU per `GET /auth/verify`, calling the backend's ASGI app directly (no server, no network).

    python -m bench.verify_cpu [--redis-url URL] [--requests N] [--concurrency C] [--rounds R]

Builds the app as `clever-login serve` does (`app.web.asgi.app_from_environment`), creates sessions in
the given Redis under a random key prefix (deleted at the end), and calls the app with valid
(cookie and bearer) and forged tickets, C requests at a time; a Starlette hello called the same
way is the reference. Prints the median µs of process CPU per request of each arm. Quicker and
steadier than the suite for comparing two versions of the code side by side (run it on each,
alternately); the suite remains the measure that counts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from typing import Any

import uvloop
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message

Scope = dict[str, Any]
USER_ID, DISTRICT_ID = "5fbd1c2e7a1b2c3d4e5f6a7b", "5fbd1c2e7a1b2c3d4e5f0000"


def principal() -> dict[str, Any]:
    """A teacher with 6 sections and 10 resources, about as large as the suite's."""
    return {
        "user": {
            "id": USER_ID,
            "district_id": DISTRICT_ID,
            "roles": ["teacher"],
            "primary_role": "teacher",
            "name": {"first": "Ada", "last": "Lovelace"},
            "email": "ada@example.edu",
            "schools": ["5fbd1c2e7a1b2c3d4e5f1111"],
        },
        "sections": [
            {
                "id": f"5fbd1c2e7a1b2c3d4e5f22{i:02d}",
                "name": f"Math {i}",
                "subject": "math",
                "grade": "7",
                "students": [f"5fbd1c2e7a1b2c3d4e5f33{j:02d}" for j in range(3)],
            }
            for i in range(6)
        ],
        "resources": [{"id": f"res{i}", "title": f"Resource {i}"} for i in range(10)],
    }


def build_app(redis_url: str, prefix: str) -> Starlette:
    os.environ.update(
        {
            "CLEVER_CLIENT_ID": "bench-client",
            "CLEVER_CLIENT_SECRET": "bench-secret-0123456789",
            "CLEVER_REDIRECT_URI": "http://127.0.0.1:8000/auth/callback",
            "CLEVER_OAUTH_URL": "http://127.0.0.1:9",  # never called
            "CLEVER_API_URL": "http://127.0.0.1:9",
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": prefix,
            "SESSION_SECRET": secrets.token_urlsafe(32),
            "FRONTEND_URL": "http://127.0.0.1:5173/home",
            "COOKIE_SECURE": "false",
        }
    )
    from app.web.asgi import app_from_environment  # reads the environment set above

    return app_from_environment()


def scope_for(path: str, headers: list[tuple[bytes, bytes]]) -> Scope:
    """What uvicorn hands the app for a keep-alive GET from wrk."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "GET",
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk"), *headers],
        "state": {},
    }


async def call(app: ASGIApp, scope: Scope) -> int:
    status = 0

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(dict(scope), receive, send)
    return status


async def cpu_per_request(
    app: ASGIApp, scopes: list[Scope], requests: int, concurrency: int, status: int
) -> float:
    """µs of process CPU per request, `concurrency` callers each sending their share in turn."""
    each = max(1, requests // concurrency)
    wrong = 0

    async def caller(offset: int) -> None:
        nonlocal wrong
        for i in range(each):
            if await call(app, scopes[(offset + i) % len(scopes)]) != status:
                wrong += 1

    started = time.process_time()
    await asyncio.gather(*(caller(k * 7) for k in range(concurrency)))
    used = time.process_time() - started
    if wrong:
        print(f"{wrong} answers without status {status}", file=sys.stderr)
    return used / (each * concurrency) * 1e6


def _forged(text: str) -> str:
    """`text` with the signature's last characters changed (still canonical base64url)."""
    return text[:-2] + ("AA" if text[-2:] != "AA" else "QA")


async def _hello(request: Request) -> Response:
    return JSONResponse({"hello": "world"})


async def run(args: argparse.Namespace) -> dict[str, float]:
    prefix = f"bench-verify:{secrets.token_hex(6)}:"
    app = build_app(args.redis_url, prefix)
    hello = Starlette(routes=[Route("/hello", _hello, methods=["GET"])])
    async with app.router.lifespan_context(app):
        services = app.state.services
        try:
            tickets = []
            for _ in range(args.sessions):
                session = await services.sessions.create(
                    user_id=USER_ID, district_id=DISTRICT_ID, login_method="clever_sso", principal=principal()
                )
                tickets.append(services.sessions.encode(session.ticket))
            cookie_name = services.cookies.session_name

            def verify(header: bytes, values: list[str]) -> list[Scope]:
                return [scope_for("/auth/verify", [(header, value.encode())]) for value in values]

            cookies = [f"{cookie_name}={t}" for t in tickets]
            arms: dict[str, tuple[ASGIApp, list[Scope], int]] = {
                "verify, cookie": (app, verify(b"cookie", cookies), 200),
                "verify, bearer": (app, verify(b"authorization", [f"Bearer {t}" for t in tickets]), 200),
                "verify, forged": (app, verify(b"cookie", [_forged(c) for c in cookies]), 401),
                "Starlette hello": (hello, [scope_for("/hello", [])], 200),
            }
            for target, scopes, status in arms.values():  # warm-up
                await cpu_per_request(target, scopes, 10 * args.concurrency, args.concurrency, status)
            results: dict[str, list[float]] = {name: [] for name in arms}
            for _ in range(args.rounds):
                for name, (target, scopes, status) in arms.items():
                    results[name].append(
                        await cpu_per_request(target, scopes, args.requests, args.concurrency, status)
                    )
        finally:
            keys = [key async for key in services.redis.scan_iter(match=f"{prefix}*")]
            for start in range(0, len(keys), 500):
                await services.redis.delete(*keys[start : start + 500])
    return {name: statistics.median(values) for name, values in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--requests", type=int, default=6400, help="per arm and round")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=200)
    args = parser.parse_args()
    medians = uvloop.run(run(args))
    print(", ".join(f"{name} {value:.1f}" for name, value in medians.items()), "µs CPU per request")


if __name__ == "__main__":
    main()
