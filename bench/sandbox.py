"""The Clever sandbox as the benchmark runs it, in its own process.

    python -m bench.sandbox --port P --redirect-uri URI [--redirect-uri URI ...]
                            [--rate-limit N] [--rate-headers every|on_429] [--students N] [--plain]

The same app as `clever-login sandbox`, with three differences for load:

- the per-token rate limit is raised far above Clever's 1200/min, since every login of the
  district spends the one district token and the benchmark measures the services, not the limit
  and `X-RateLimit-*` go on every answer, so that the client's budget learns the raised limit
  (`--rate-limit 1200 --rate-headers on_429` puts Clever's rule back, for bench/bell.py);
- one more teacher, with 6 sections and 10 resources, the "typical teacher" whose session size
  is a target (the seeded district has none that large; `--plain` leaves the district as
  seeded, for benchmarks that name its records from a copy of their own);
- `/bench/stats` counts the server-to-server calls (everything but `/oauth/authorize` and the
  control API) by endpoint, and the TCP connections they came on (distinct client ports);
  `PUT /bench/limit {"limit": N}` sets the per-token limit (and forgets every window) and
  `GET /bench/events` lists the event log's ids, so that a benchmark driving this process from
  another one can do what it would do to a sandbox in its own.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import re
from collections import Counter
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from clever_sandbox import create_sandbox_app
from clever_sandbox.config import RateHeaders, SandboxConfig
from clever_sandbox.store import SandboxStore

RATE_LIMIT = 10**9
_ID = re.compile(r"/[0-9a-f]{24}(?=/|$)")
UNCOUNTED = ("/oauth/authorize", "/sandbox/", "/bench/")
BENCH_TEACHER = "bench_teacher"


class CallCounter:
    """Pure ASGI: counts calls by `METHOD /path/{id}` and the client ports they arrived from."""

    def __init__(self, app: ASGIApp, sandbox: Starlette | None = None) -> None:
        self.app = app
        self.sandbox = sandbox  # the sandbox app itself, for the limit and the event log
        self.calls: Counter[str] = Counter()
        self.ports: set[int] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path == "/bench/stats":
                body = {"calls": dict(self.calls), "connections": len(self.ports)}
                await JSONResponse(body)(scope, receive, send)
                return
            if path in ("/bench/limit", "/bench/events") and self.sandbox is not None:
                answer = await self.control(path, Request(scope, receive))
                await answer(scope, receive, send)
                return
            if not path.startswith(UNCOUNTED):
                self.calls[f"{scope['method']} {_ID.sub('/{id}', path)}"] += 1
                client = scope.get("client")
                if client:
                    self.ports.add(client[1])
        await self.app(scope, receive, send)

    async def control(self, path: str, request: Request) -> Response:
        assert self.sandbox is not None
        state = self.sandbox.state.sandbox
        if path == "/bench/events":
            return JSONResponse({"ids": [str(event["id"]) for event in state.store.events()]})
        if request.method != "PUT":
            return Response(status_code=405)
        limit = int((await request.json())["limit"])
        state.limiter.limit = limit
        state.limiter.clear()
        return JSONResponse({"limit": limit})


def add_bench_teacher(store: SandboxStore, sections: int = 6, resources: int = 10) -> str:
    """A teacher with `sections` sections and `resources` resources shared directly; its id.

    Sections go through the store's own API; resources have none, so copies of a seeded one are
    added to the store's tables (benchmark set-up only) and the relation cache is rebuilt.
    """
    model = next(u for u in store.all("users") if set(u["roles"]) == {"teacher"})
    fields = {key: copy.deepcopy(value) for key, value in model.items() if key not in ("id", "created")}
    fields["name"] = {"first": "Bench", "middle": None, "last": "Teacher"}
    fields["email"] = "bench.teacher@example.org"
    teacher = store.create_user(fields)
    school = model["roles"]["teacher"]["school"]
    for index in range(sections):
        store.create_section(
            {
                "school": school,
                "name": f"Bench section {index + 1}",
                "subject": "math",
                "grade": "5",
                "period": str(index + 1),
                "teacher": teacher["id"],
                "teachers": [teacher["id"]],
            }
        )
    seeded: dict[str, Any] = next(iter(store.all("resources")))
    table: dict[str, dict[str, Any]] = store._records["resources"]
    shares: dict[str, list[str]] = store._resource_users
    for index in range(resources):
        resource = copy.deepcopy(seeded)
        resource["id"] = f"{teacher['id'][:18]}be{index:04x}"
        resource["title"] = f"Bench resource {index + 1}"
        resource["roles"] = ["teacher"]
        table[resource["id"]] = resource
        shares.setdefault(resource["id"], []).append(teacher["id"])
    store._roster = None
    return str(teacher["id"])


def create_app(
    redirect_uris: list[str],
    *,
    rate_limit: int = RATE_LIMIT,
    rate_headers: RateHeaders = "every",
    students: int | None = None,
    plain: bool = False,
) -> tuple[ASGIApp, str]:
    config = SandboxConfig(
        redirect_uris=tuple(redirect_uris), rate_limit_per_minute=rate_limit, rate_headers=rate_headers
    )
    if students is not None:
        config = dataclasses.replace(config, students=students)
    sandbox_app: Starlette = create_sandbox_app(config)
    teacher_id = "" if plain else add_bench_teacher(sandbox_app.state.sandbox.store)
    return CallCounter(sandbox_app, sandbox_app), teacher_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redirect-uri", action="append", dest="redirect_uris", required=True)
    parser.add_argument("--rate-limit", type=int, default=RATE_LIMIT)
    parser.add_argument("--rate-headers", choices=["every", "on_429"], default="every")
    parser.add_argument("--students", type=int)
    parser.add_argument("--plain", action="store_true", help="no bench teacher: the district as seeded")
    args = parser.parse_args()
    app, _ = create_app(
        args.redirect_uris,
        rate_limit=args.rate_limit,
        rate_headers=args.rate_headers,
        students=args.students,
        plain=args.plain,
    )
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        timeout_keep_alive=60,
    )


if __name__ == "__main__":
    main()
