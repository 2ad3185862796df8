"""The benchmark suite: validation, logins and session size, side by side with two peers.

    python -m bench.suite [--quick]          (`make bench` installs what it needs, then runs this)

Everything runs on loopback, in bounded time, against processes this run starts and stops:
its own redis-server (clean `INFO commandstats`), the Clever sandbox (bench.sandbox) with a fixed
latency injected into every server-to-server Clever call, and the servers compared, each a single
worker under the same uvicorn options (`clever-login serve`'s):

- ours:     `clever-login serve`;
- authlib:  bench/peers/authlib_app.py (authlib + Starlette, session in Redis);
- express:  bench/peers/express (express-session + connect-redis + passport-oauth2, node);
- the physical references: a bare-ASGI hello, a Starlette hello, and `redis-benchmark` GET.

With two or more CPUs the servers share the last CPU (only one is loaded at a time) and Redis,
the sandbox and the load generators the others. Arms alternate, in a rotating order, and every
ratio is taken between arms of the same repetition, so that load from elsewhere on the machine
moves both sides of a ratio together.

Then, on the whole machine again, the roster store's arms (bench/roster.py: a full sync, a
login's latency from the copy beside a live one, a rollover) and the morning bell (bench/bell.py),
each on a stack of its own at Clever's real limit (`--quick` runs them smaller). Writes
bench/results/latest.md, latest.png, latest.json; a full run also the arms' own
bench/results/roster-<arm>.md and bell.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import aiohttp
import httpx
import redis
import uvloop

from app.crypto.keyring import Keyring
from app.redis_client import KEY_PREFIX
from app.sessions.store import SessionStore
from bench import loadgen, report
from bench.processes import EXPRESS_DIR, Process, cpu_layout, free_port, pinned, python, start_redis
from bench.sandbox import create_app as build_sandbox
from clever_sandbox.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

RESULTS = Path(__file__).parent / "results"
LATENCY_MS = 20.0
FAULTED = [  # every call a login service makes to Clever; the browser's /oauth/authorize is not
    ("POST", "/oauth/tokens"),
    ("GET", "/oauth/tokens"),
    ("GET", "/.well-known/openid-configuration"),
    ("GET", "/oauth/certs"),
    ("*", "/userinfo"),
    ("GET", "/v3.0/*"),
    ("GET", "/v3.1/*"),
]
OURS, OURS_NO_ID_TOKEN, AUTHLIB, EXPRESS = "ours", "ours, no id_token", "authlib peer", "express peer"
ASGI_HELLO, STARLETTE_HELLO = "bare ASGI hello", "Starlette hello"
LOGIN_ARMS = [OURS, OURS_NO_ID_TOKEN, AUTHLIB, EXPRESS]
VALIDATION_ARMS = [ASGI_HELLO, STARLETTE_HELLO, OURS, AUTHLIB, EXPRESS]
ROLES = {
    "student": "student",
    "teacher (6 sections, 10 resources)": "teacher",
    "district admin": "district_admin",
}
HOPELESS_RATE = 10.0
IGNORED_COMMANDS = {"info", "ping", "config", "client", "hello", "memory", "select", "command"}


@dataclass(frozen=True)
class Plan:
    concurrencies: tuple[int, ...]
    login_warmup: float
    login_seconds: float
    repetitions: int
    validation_seconds: float
    open_loop_seconds: float
    redis_requests: int

    @classmethod
    def for_run(cls, quick: bool) -> Plan:
        if quick:
            return cls((1, 16, 64, 256), 0.5, 2.0, 1, 2.0, 2.0, 50_000)
        return cls((1, 16, 64, 256), 1.5, 5.0, 3, 5.0, 4.0, 200_000)


@dataclass(frozen=True)
class RosterSizes:
    """The roster arms' and the bell's sizes: full, their own defaults (the issues' sizes)."""

    sync_students: int
    latency_logins: int
    rollover_sessions: int
    rollover_events: int
    rollover_timeout: float
    bell: tuple[str, ...]  # bench.bell's arguments

    @classmethod
    def for_run(cls, quick: bool) -> RosterSizes:
        if quick:
            return cls(2000, 20, 200, 100, 60.0, ("--students", "600", "--logins", "300", "--cap", "20"))
        return cls(50_000, 100, 2000, 1000, 120.0, ())


@dataclass
class Stack:
    redis_port: int
    redis: Process
    sandbox: Process
    sandbox_url: str
    servers: dict[str, Process]
    urls: dict[str, str]
    session_secret: str
    other_cpus: set[int]


# --- starting and stopping ------------------------------------------------------------------


def ensure_express_modules() -> None:
    if not (EXPRESS_DIR / "node_modules").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--silent"],  # noqa: S607
            cwd=EXPRESS_DIR,
            check=True,
            timeout=300,
        )


@contextmanager
def running_stack(logs: Path) -> Iterator[Stack]:
    server_cpus, other_cpus = cpu_layout()
    ports = {
        name: free_port()
        for name in ("redis", "sandbox", OURS, AUTHLIB, EXPRESS, ASGI_HELLO, STARLETTE_HELLO)
    }
    urls = {name: f"http://127.0.0.1:{ports[name]}" for name in ports}
    callbacks = {OURS: "/auth/callback", AUTHLIB: "/callback", EXPRESS: "/callback"}
    redirect_uris = [urls[name] + path for name, path in callbacks.items()]
    session_secret = secrets.token_urlsafe(32)
    redis_url = f"redis://127.0.0.1:{ports['redis']}/0"
    sandbox_url = urls["sandbox"]
    common = {
        "CLIENT_ID": DEFAULT_CLIENT_ID,
        "CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "CLEVER_URL": sandbox_url,
    }
    with ExitStack() as stack:
        redis_process = start_redis(ports["redis"], other_cpus, logs)
        stack.callback(redis_process.stop)
        redirects = [arg for uri in redirect_uris for arg in ("--redirect-uri", uri)]
        sandbox = Process(
            "sandbox",
            python("bench.sandbox", "--port", str(ports["sandbox"]), *redirects),
            cpus=other_cpus,
            log=logs / "sandbox.log",
        )
        stack.callback(sandbox.stop)
        sandbox.wait_http(f"{sandbox_url}/bench/stats")
        servers = {
            OURS: Process(
                OURS,
                python("app.cli", "serve", "--port", str(ports[OURS]), "--log-level", "warning"),
                cpus=server_cpus,
                env={
                    "CLEVER_CLIENT_ID": DEFAULT_CLIENT_ID,
                    "CLEVER_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
                    "CLEVER_REDIRECT_URI": redirect_uris[0],
                    "CLEVER_OAUTH_URL": sandbox_url,
                    "CLEVER_API_URL": sandbox_url,
                    "REDIS_URL": redis_url,
                    "REDIS_KEY_PREFIX": KEY_PREFIX,
                    "SESSION_SECRET": session_secret,
                    "FRONTEND_URL": "http://127.0.0.1:5173/home",
                    "COOKIE_SECURE": "false",
                },
                log=logs / "ours.log",
            ),
            AUTHLIB: Process(
                AUTHLIB,
                python("bench.peers.authlib_app", str(ports[AUTHLIB])),
                cpus=server_cpus,
                env={
                    **common,
                    "CALLBACK_URL": redirect_uris[1],
                    "REDIS_URL": redis_url,
                    "SESSION_SECRET": session_secret,
                    "PYTHONWARNINGS": "ignore",
                },
                log=logs / "authlib.log",
            ),
            EXPRESS: Process(
                EXPRESS,
                ["node", "app.js"],
                cpus=server_cpus,
                cwd=EXPRESS_DIR,
                env={
                    **common,
                    "PORT": str(ports[EXPRESS]),
                    "CALLBACK_URL": redirect_uris[2],
                    "REDIS_URL": redis_url,
                    "SESSION_SECRET": session_secret,
                    "NODE_ENV": "production",
                },
                log=logs / "express.log",
            ),
            ASGI_HELLO: Process(
                ASGI_HELLO, python("bench.hello", "asgi", str(ports[ASGI_HELLO])), cpus=server_cpus
            ),
            STARLETTE_HELLO: Process(
                STARLETTE_HELLO,
                python("bench.hello", "starlette", str(ports[STARLETTE_HELLO])),
                cpus=server_cpus,
            ),
        }
        for server in servers.values():
            stack.callback(server.stop)
        health = {
            OURS: "/healthz",
            AUTHLIB: "/verify",
            EXPRESS: "/verify",
            ASGI_HELLO: "/",
            STARLETTE_HELLO: "/hello",
        }
        for name, server in servers.items():
            server.wait_http(urls[name] + health[name])
        yield Stack(
            redis_port=ports["redis"],
            redis=redis_process,
            sandbox=sandbox,
            sandbox_url=sandbox_url,
            servers=servers,
            urls=urls,
            session_secret=session_secret,
            other_cpus=other_cpus,
        )


# --- helpers ----------------------------------------------------------------------------------


def login_target(stack: Stack, arm: str) -> loadgen.LoginTarget:
    if arm in (OURS, OURS_NO_ID_TOKEN):
        return loadgen.LoginTarget(stack.urls[OURS] + "/auth/login", "clever_session")
    if arm == AUTHLIB:
        return loadgen.LoginTarget(stack.urls[AUTHLIB] + "/login", "peer_session")
    return loadgen.LoginTarget(stack.urls[EXPRESS] + "/login", "connect.sid")


def cookie_line(arm: str, value: str) -> str:
    name = {OURS: "clever_session", AUTHLIB: "peer_session", EXPRESS: "connect.sid"}[arm]
    return f"{name}={value}"


def redis_key(stack: Stack, arm: str, cookie: str) -> str:
    if arm == OURS:
        store = SessionStore(
            redis.Redis(),  # type: ignore[arg-type]  # only names keys, never connects
            Keyring.from_secret(stack.session_secret, []),
            idle_timeout=1800,
            absolute_timeout=28800,
            prefix=KEY_PREFIX,
        )
        ticket = store.decode(cookie)
        assert ticket is not None
        return store.session_key(ticket)
    if arm == AUTHLIB:
        return "authlib:s:" + cookie
    sid = unquote(cookie).removeprefix("s:").rsplit(".", 1)[0]  # express-session: s:<sid>.<signature>
    return "sess:" + sid


def command_calls(client: redis.Redis) -> int:
    stats: dict[str, dict[str, Any]] = client.info("commandstats")
    return sum(
        int(value["calls"])
        for name, value in stats.items()
        if name.removeprefix("cmdstat_").split("|")[0] not in IGNORED_COMMANDS
    )


def command_breakdown(client: redis.Redis) -> dict[str, int]:
    stats: dict[str, dict[str, Any]] = client.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): int(value["calls"])
        for name, value in stats.items()
        if name.removeprefix("cmdstat_").split("|")[0] not in IGNORED_COMMANDS
    }


def sandbox_stats(stack: Stack) -> dict[str, Any]:
    stats: dict[str, Any] = httpx.get(f"{stack.sandbox_url}/bench/stats", timeout=10).json()
    return stats


def set_oidc(stack: Stack, enabled: bool) -> None:
    httpx.put(f"{stack.sandbox_url}/sandbox/oidc", json={"enabled": enabled}, timeout=10).raise_for_status()


def inject_latency(sandbox_url: str, latency_ms: float) -> None:
    """The suite's rule: every call a login service makes to Clever answers after `latency_ms`."""
    httpx.delete(f"{sandbox_url}/sandbox/faults", timeout=10).raise_for_status()
    rules = [
        {"path": path, "method": method, "status": None, "latency_ms": latency_ms, "count": None}
        for method, path in FAULTED
    ]
    httpx.post(f"{sandbox_url}/sandbox/faults", json=rules, timeout=10).raise_for_status()


def drain(process: Process, limit: float = 15.0) -> None:
    """Wait until `process` is idle (what a cut-off arm left in flight is finished), at most `limit` s."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = process.cpu_seconds()
        time.sleep(0.25)
        if process.cpu_seconds() - before < 0.025:
            return


def cpu_busy(cpus: set[int]) -> tuple[float, float]:
    """(busy, total) jiffies of `cpus` so far, from /proc/stat: how loaded the load side is."""
    busy = total = 0.0
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
            values = [float(v) for v in fields]
            total += sum(values[:8])
            busy += sum(values[:8]) - values[3] - values[4]  # all but idle and iowait
    return busy, total


def rotated(names: list[str], turn: int) -> list[str]:
    shift = turn % len(names)
    return names[shift:] + names[:shift]


# --- phases -----------------------------------------------------------------------------------


async def size_phase(stack: Stack, users: dict[str, str], client: redis.Redis) -> dict[str, Any]:
    """One login per role and app; `MEMORY USAGE` and `STRLEN` of the session it left in Redis."""
    sizes: dict[str, dict[str, dict[str, int]]] = {}
    async with _browser() as http:
        for arm in (OURS, AUTHLIB, EXPRESS):
            sizes[arm] = {}
            for label, kind in ROLES.items():
                cookie, _ = await loadgen.one_login(http, login_target(stack, arm), users[kind])
                key = redis_key(stack, arm, cookie)
                memory = client.memory_usage(key)
                sizes[arm][label] = {"memory_usage": int(memory or 0), "strlen": int(client.strlen(key))}
    return sizes


def _browser() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def login_phase(
    stack: Stack, plan: Plan, user_ids: list[str], deadline: float, skipped: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    rows: list[dict[str, Any]] = []
    cookies: dict[str, list[str]] = {OURS: [], AUTHLIB: [], EXPRESS: []}
    # An arm that finishes almost nothing at one concurrency is not run at higher ones: it would
    # finish nothing there either, and leave minutes of cut-off logins queued in the server.
    hopeless: set[str] = set()
    for turn, users in enumerate(plan.concurrencies):
        for arm in rotated(LOGIN_ARMS, turn):
            if time.monotonic() > deadline or arm in hopeless:
                why = "time is up" if arm not in hopeless else f"under {HOPELESS_RATE}/s at fewer users"
                print(f"  logins: {why}, skipping {arm} at {users} users")
                skipped.append({"arm": arm, "users": users, "why": why})
                continue
            set_oidc(stack, arm != OURS_NO_ID_TOKEN)
            server = stack.servers[OURS if arm == OURS_NO_ID_TOKEN else arm]
            before = sandbox_stats(stack)
            cpu0, sandbox0, busy0 = (
                server.cpu_seconds(),
                stack.sandbox.cpu_seconds(),
                cpu_busy(stack.other_cpus),
            )
            result = await loadgen.logins(
                arm,
                login_target(stack, arm),
                user_ids,
                users=users,
                warmup=plan.login_warmup,
                seconds=plan.login_seconds,
                keep_cookies=256 if arm in cookies else 0,
            )
            wall = plan.login_warmup + plan.login_seconds
            cpu1, sandbox1, busy1 = (
                server.cpu_seconds(),
                stack.sandbox.cpu_seconds(),
                cpu_busy(stack.other_cpus),
            )
            after = sandbox_stats(stack)
            completed = max(1, result.total)
            calls = sum(after["calls"].values()) - sum(before["calls"].values())
            row = {
                "arm": arm,
                "users": users,
                "logins_per_s": result.rate,
                "completed": len(result.latencies_ms),
                "p50_ms": loadgen.percentile(result.latencies_ms, 0.5),
                "p99_ms": loadgen.percentile(result.latencies_ms, 0.99),
                "callback_p50_ms": loadgen.percentile(result.callback_ms, 0.5),
                "errors": result.errors,
                "server_cpu_ms_per_login": 1000 * (cpu1 - cpu0) / completed,
                "load_side_busy_pct": 100 * (busy1[0] - busy0[0]) / max(1e-9, busy1[1] - busy0[1]),
                "clever_calls_per_login": calls / completed,
                "new_connections_per_login": (after["connections"] - before["connections"]) / completed,
                "server_cpu_pct": 100 * (cpu1 - cpu0) / wall,
                "sandbox_cpu_pct": 100 * (sandbox1 - sandbox0) / wall,
                "calls": {
                    name: (after["calls"].get(name, 0) - before["calls"].get(name, 0)) / completed
                    for name in after["calls"]
                    if after["calls"].get(name, 0) - before["calls"].get(name, 0)
                },
            }
            rows.append(row)
            if users > 1 and row["logins_per_s"] < HOPELESS_RATE:
                hopeless.add(arm)
            drain(server, limit=60)
            if arm in cookies and len(cookies[arm]) < len(result.cookies):
                cookies[arm] = result.cookies
            print(
                f"  logins {arm:18} {users:4} users  {row['logins_per_s']:7.1f}/s"
                f"  p50 {row['p50_ms']:7.1f} ms"
                f"  p99 {row['p99_ms']:7.1f} ms  errors {row['errors']:3}  calls/login"
                f" {row['clever_calls_per_login']:.2f}"
                f"  new conns/login {row['new_connections_per_login']:.3f}"
                f"  server CPU {row['server_cpu_pct']:.0f}% ({row['server_cpu_ms_per_login']:.1f} ms/login)"
                f"  sandbox CPU {row['sandbox_cpu_pct']:.0f}%"
                f"  load side busy {row['load_side_busy_pct']:.0f}%"
            )
    set_oidc(stack, True)
    return rows, cookies


def validation_phase(
    stack: Stack, plan: Plan, cookie_files: dict[str, Path], client: redis.Redis, deadline: float
) -> list[dict[str, Any]]:
    paths = {
        ASGI_HELLO: "/",
        STARLETTE_HELLO: "/hello",
        OURS: "/auth/verify",
        AUTHLIB: "/verify",
        EXPRESS: "/verify",
    }
    rows: list[dict[str, Any]] = []
    for repetition in range(plan.repetitions):
        for arm in rotated(VALIDATION_ARMS, repetition):
            if time.monotonic() > deadline:
                print(f"  validation: time is up, skipping {arm}")
                continue
            commands0, cpu0 = command_calls(client), stack.servers[arm].cpu_seconds()
            result = loadgen.wrk(
                stack.urls[arm] + paths[arm],
                cookies_file=cookie_files.get(arm, cookie_files[OURS]),
                connections=64,
                seconds=plan.validation_seconds,
                cpus=stack.other_cpus,
            )
            drain(stack.servers[arm])
            commands = command_calls(client) - commands0
            cpu_us = 1e6 * (stack.servers[arm].cpu_seconds() - cpu0) / max(1, result.requests)
            row = {
                "arm": arm,
                "repetition": repetition,
                "rps": result.rps,
                "p50_ms": result.p50_ms,
                "p99_ms": result.p99_ms,
                "errors": result.errors,
                "redis_per_request": commands / max(1, result.requests),
                "server_cpu_us_per_request": cpu_us,
            }
            rows.append(row)
            print(
                f"  verify {arm:18} rep {repetition + 1}  {result.rps:8.0f} req/s"
                f"  p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms  errors {result.errors}"
                f"  Redis/req {row['redis_per_request']:.3f}  server CPU {cpu_us:.0f} us/req"
            )
    return rows


def round_trips(
    stack: Stack, cookie_lines: list[str], client: redis.Redis, requests: int = 300
) -> dict[str, Any]:
    """Redis commands per `/auth/verify`, counted exactly: `requests` sequential requests with valid
    tickets, then as many with forged, malformed or absent ones (wrk's counts include requests
    still in flight when it stops)."""
    forged = "v1." + ".".join(secrets.token_urlsafe(32) for _ in range(3))
    bad_lines = [f"clever_session={forged}", "clever_session=garbage", "other=1"]
    counted: dict[str, Any] = {}
    with httpx.Client(base_url=stack.urls[OURS], timeout=10) as http:
        for kind, lines, expected in (("valid", cookie_lines, 200), ("bad", bad_lines, 401)):
            commands0, answers = command_calls(client), 0
            for index in range(requests):
                response = http.get("/auth/verify", headers={"Cookie": lines[index % len(lines)]})
                answers += response.status_code == expected
            counted[kind] = {
                "requests": requests,
                "as_expected": answers,
                "redis_per_request": (command_calls(client) - commands0) / requests,
            }
    return counted


async def open_loop_phase(
    stack: Stack, plan: Plan, cookies: list[str], saturation: float
) -> list[dict[str, Any]]:
    """Ours at 25, 50 and 75 % of its closed-loop saturation; the Starlette hello at the 50 % rate
    shows what the generator and the server alone add to latency at that rate."""
    rows: list[dict[str, Any]] = []
    port = int(stack.urls[OURS].rsplit(":", 1)[1])
    hello_port = int(stack.urls[STARLETTE_HELLO].rsplit(":", 1)[1])
    arms = [(OURS, port, "/auth/verify", saturation, fraction) for fraction in (0.25, 0.5, 0.75)]
    arms.append((STARLETTE_HELLO, hello_port, "/hello", saturation, 0.5))
    for arm, arm_port, path, base, fraction in arms:
        rate = max(50.0, base * fraction)
        server = stack.servers[arm]
        cpu0, busy0 = server.cpu_seconds(), cpu_busy(stack.other_cpus)
        result = await loadgen.open_loop(
            "127.0.0.1", arm_port, path, cookies, rate=rate, seconds=plan.open_loop_seconds
        )
        cpu_us = 1e6 * (server.cpu_seconds() - cpu0) / max(1, result.completed)
        busy1 = cpu_busy(stack.other_cpus)
        load_busy = 100 * (busy1[0] - busy0[0]) / max(1e-9, busy1[1] - busy0[1])
        row = {
            "arm": arm,
            "fraction": fraction,
            "rate": rate,
            "achieved": result.achieved,
            "p50_ms": result.p(0.5),
            "p99_ms": result.p(0.99),
            "p999_ms": result.p(0.999),
            "errors": result.errors,
            "server_cpu_us_per_request": cpu_us,
            "load_side_busy_pct": load_busy,
        }
        rows.append(row)
        print(
            f"  open loop {arm:16} {rate:7.0f}/s ({fraction:.0%} of saturation)"
            f"  achieved {result.achieved:7.0f}/s"
            f"  p50 {row['p50_ms']:.2f} ms  p99 {row['p99_ms']:.2f} ms  p99.9 {row['p999_ms']:.2f} ms"
            f"  errors {result.errors}  server CPU {cpu_us:.0f} us/req  load side busy {load_busy:.0f}%"
        )
    return rows


def redis_benchmark(stack: Stack, plan: Plan, value_bytes: int) -> dict[str, Any]:
    command = [
        "redis-benchmark",
        "-p",
        str(stack.redis_port),
        "-t",
        "get",
        "-c",
        "50",
        "-n",
        str(plan.redis_requests),
        "-d",
        str(value_bytes),
        "-q",
    ]
    done = subprocess.run(  # noqa: S603 - a fixed command
        pinned(command, stack.other_cpus), capture_output=True, text=True, timeout=120, check=True
    )
    line = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    parts = line.replace("\r", " ").split()
    rps = next((float(parts[i - 1]) for i, word in enumerate(parts) if word == "requests"), float("nan"))
    return {"get_per_s": rps, "value_bytes": value_bytes, "line": line.split("\r")[-1].strip()}


async def roster_phase(sizes: RosterSizes) -> dict[str, str]:
    """The roster store's arms and the morning bell, each on a stack of its own: their tables."""
    from bench import bell, roster  # both import this module (its latency rule)

    tables: dict[str, str] = {}
    print(f"  roster: full sync of {sizes.sync_students} students", flush=True)
    tables["sync"] = await roster.sync_arm(sizes.sync_students)
    print(f"  roster: login latency, {sizes.latency_logins} logins a source and limit", flush=True)
    tables["latency"] = await roster.latency_arm(24, sizes.latency_logins, "worker")
    print(
        f"  roster: rollover, {sizes.rollover_events} events, {sizes.rollover_sessions} sessions", flush=True
    )
    tables["rollover"] = await roster.rollover_arm(
        sizes.rollover_sessions, sizes.rollover_sessions, sizes.rollover_events, sizes.rollover_timeout
    )
    print("  morning bell", flush=True)
    tables["bell"] = await bell.measure(bell.parser().parse_args(list(sizes.bell)))
    return tables


def write_roster_results(tables: dict[str, str]) -> None:
    """A full run's roster and bell tables, where `python -m bench.roster` and `bench.bell` put them."""
    from bench import bell, roster

    for name, text in tables.items():
        if name == "bell":
            bell.write(text)
        else:
            (roster.RESULTS / f"roster-{name}.md").write_text(text + "\n")


# --- the run ----------------------------------------------------------------------------------


def versions(cpus: int) -> dict[str, str]:
    import starlette
    import uvicorn

    def tool(command: list[str]) -> str:
        try:
            out = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)  # noqa: S603
        except OSError:
            return "?"
        return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "?"

    return {
        "python": sys.version.split()[0],
        "starlette": starlette.__version__,
        "uvicorn": uvicorn.__version__,
        "redis-py": redis.__version__,
        "aiohttp": aiohttp.__version__,
        "node": tool(["node", "--version"]),
        "redis-server": tool(["redis-server", "--version"]).split(" v=")[-1].split()[0],
        "wrk": tool(["wrk", "--version"]).split(" [")[0],
        "platform": platform.platform(),
        "cpus": str(cpus),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    plan = Plan.for_run(args.quick)
    started = time.monotonic()
    budget = 120.0 if args.quick else 480.0
    ensure_express_modules()
    _, other_cpus = cpu_layout()
    all_cpus = os.sched_getaffinity(0)
    cpus = len(all_cpus)
    os.sched_setaffinity(0, other_cpus)  # the load generators stay off the servers' CPU

    # The same seed builds the same district here as in the sandbox process: name its users.
    users, pool = demo_users()

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        logs = Path(tmp)
        with running_stack(logs) as stack:
            client = redis.Redis(port=stack.redis_port)
            inject_latency(stack.sandbox_url, LATENCY_MS)
            print(f"servers up in {time.monotonic() - started:.0f} s; {LATENCY_MS:g} ms per Clever call")

            print("size: one login per role and app")
            sizes = await size_phase(stack, users, client)

            print("logins")
            login_deadline = started + budget * 0.55
            skipped: list[dict[str, Any]] = []
            login_rows, cookies = await login_phase(stack, plan, pool, login_deadline, skipped)
            for server in stack.servers.values():
                drain(server, limit=60)
            breakdown0 = command_breakdown(client)

            cookie_files: dict[str, Path] = {}
            for arm, values in cookies.items():
                if not values:
                    raise RuntimeError(f"no {arm} login succeeded; see its log")
                path = logs / f"cookies-{arm.split()[0]}.txt"
                path.write_text("\n".join(cookie_line(arm, value) for value in values) + "\n")
                cookie_files[arm] = path

            print("validation (wrk, closed loop, 64 connections)")
            validation_rows = validation_phase(stack, plan, cookie_files, client, started + budget * 0.9)
            breakdown1 = command_breakdown(client)
            exact = round_trips(stack, cookie_files[OURS].read_text().split(), client)
            print(
                "  Redis commands per request, counted exactly:"
                f" valid {exact['valid']['redis_per_request']:.3f},"
                f" forged or absent ticket {exact['bad']['redis_per_request']:.3f}"
            )

            ours_rps = statistics.median(r["rps"] for r in validation_rows if r["arm"] == OURS)
            print("validation (open loop, fixed rates)")
            ours_cookies = cookie_files[OURS].read_text().split()
            open_rows = await open_loop_phase(stack, plan, ours_cookies, ours_rps)

            teacher_bytes = sizes[OURS]["teacher (6 sections, 10 resources)"]["strlen"]
            print("redis-benchmark GET")
            redis_ref = redis_benchmark(stack, plan, teacher_bytes)
            print(f"  {redis_ref['line']}")

            rss = {name: server.rss_mb() for name, server in stack.servers.items()}
            rss["sandbox"] = stack.sandbox.rss_mb()
            client.close()

    # The roster arms start their own processes, unpinned, as an operator's would run.
    os.sched_setaffinity(0, all_cpus)
    print("roster store and morning bell, at Clever's limit")
    roster_started = time.monotonic()
    roster_tables = await roster_phase(RosterSizes.for_run(args.quick))
    print(f"  done in {time.monotonic() - roster_started:.0f} s")

    return {
        "quick": args.quick,
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds": time.monotonic() - started,
        "latency_ms": LATENCY_MS,
        "plan": plan.__dict__,
        "versions": versions(cpus),
        "sizes": sizes,
        "logins": login_rows,
        "skipped": skipped,
        "validation": validation_rows,
        "round_trips": exact,
        "open_loop": open_rows,
        "redis_benchmark": redis_ref,
        "rss_mb": rss,
        "roster": roster_tables,
        "verify_commands": {
            name: count - breakdown0.get(name, 0)
            for name, count in breakdown1.items()
            if count - breakdown0.get(name, 0)
        },
    }


def demo_users() -> tuple[dict[str, str], list[str]]:
    """The users of the size table by kind, and every user of the main demo district (whom the
    login phase signs in, in turn). The same seed builds the same district here as in the
    sandbox process, so the ids are the same."""
    app, teacher_id = build_sandbox(["http://127.0.0.1:1/"])
    store = app.app.state.sandbox.store  # type: ignore[attr-defined]

    def first(role: str) -> str:
        for login in store.demo_logins():
            user = store.user(login.user_id)
            if user is not None and set(user["roles"]) == {role}:
                return str(user["id"])
        raise LookupError(role)

    main = store.district_ids()[0]
    pool = [str(user["id"]) for user in store.all("users") if user["district"] == main]
    return {
        "student": first("student"),
        "teacher": teacher_id,
        "district_admin": first("district_admin"),
    }, pool


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short phases, one repetition, small roster arms (about 4 minutes)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where latest.md/.png/.json go")
    args = parser.parse_args(argv)
    results = uvloop.run(run(args))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(results, indent=2))
    markdown = report.markdown(results)
    (args.out / "latest.md").write_text(markdown)
    report.chart(results, args.out / "latest.png")
    if not args.quick and args.out == RESULTS:
        report.update_readme(results, report.README)
        write_roster_results(results["roster"])
    print()
    print(markdown)
    print(f"written: {args.out / 'latest.md'}, latest.png, latest.json ({results['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
