"""The roster store's benchmarks: a full sync, a login's latency from the store, a rollover.

    python -m bench.roster sync [--students 50000]
    python -m bench.roster latency [--logins 100] [--cursor worker|written]
    python -m bench.roster rollover [--sessions 2000] [--events 1000] [--timeout 120]
    python -m bench.roster all [--students N]

Each arm starts its own redis-server, the Clever sandbox (bench.sandbox, a process of its own:
this one names the district's records from a copy seeded alike, and reads the sandbox's call
counts, sets its limit and lists its events through bench.sandbox's `/bench/` routes) and the
commands it measures as separate processes, exactly as an operator runs them: `clever-login sync
--district ID`, `clever-login serve`, `clever-login events`; this process only drives them (the
logins' browsers). Whatever those commands do on this checkout is what is measured. The
sandbox runs at Clever's real limit (1200 calls a minute per token) unless a row says
"unlimited" (the limit bench.sandbox uses for the suite's arms). Clever calls are counted at the
sandbox (every server-to-server call). Each arm prints a markdown table and writes it to
bench/results/roster-<arm>.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from redis.asyncio import Redis

from app.crypto.keyring import Keyring
from app.roster.events_cursor import Cursor, cursor_key, dump_cursor, parse_cursor
from app.roster.store import RosterStore
from bench.processes import Process, free_port, python, serve_command, start_redis
from bench.sandbox import RATE_LIMIT as UNLIMITED
from bench.suite import LATENCY_MS, inject_latency
from clever_sandbox import create_sandbox_app
from clever_sandbox.config import SandboxConfig
from clever_sandbox.store import SandboxStore
from tests.support.backend import SESSION_SECRET, backend_environ
from tests.support.browser import Browser

RESULTS = Path(__file__).parent / "results"
CLEVER_LIMIT = SandboxConfig().rate_limit_per_minute  # Clever's documented 1200 a minute per token
# Unlimited first: a client that has seen a window's remaining calls keeps them until the window
# resets, so a limit raised mid-window would look spent to it (Clever's limit never moves).
LIMITS = {"unlimited": UNLIMITED, f"Clever's limit ({CLEVER_LIMIT}/min)": CLEVER_LIMIT}
PREFIX_STORE, PREFIX_LIVE = "bs:", "bl:"
EVENTS_FEED = "/events"  # the worker's polls of the event stream, told apart from data calls
POLL_SECONDS = "1"
LOGIN_CONCURRENCY = 32


# --- the stack ---------------------------------------------------------------------------------


@dataclass
class Stack:
    logs: Path
    redis_url: str
    sandbox_url: str
    config: SandboxConfig
    store: SandboxStore  # a copy seeded as the sandbox's own: its ids, not its later changes
    district_id: str
    callbacks: dict[str, str]  # backend name -> its callback URL (registered at the sandbox)
    ports: dict[str, int]

    def calls(self) -> Counter[str]:
        stats = httpx.get(f"{self.sandbox_url}/bench/stats", timeout=10).json()
        return Counter({str(key): int(value) for key, value in stats["calls"].items()})

    def set_limit(self, limit: int) -> None:
        httpx.put(f"{self.sandbox_url}/bench/limit", json={"limit": limit}, timeout=10).raise_for_status()

    def event_ids(self) -> list[str]:
        """The sandbox's event log, oldest first."""
        return [
            str(event) for event in httpx.get(f"{self.sandbox_url}/bench/events", timeout=10).json()["ids"]
        ]

    def environ(self, prefix: str, backend: str = "store", **extra: str) -> dict[str, str]:
        return backend_environ(
            self.sandbox_url,
            replace(self.config, redirect_uris=(self.callbacks[backend],)),
            redis_url=self.redis_url,
            key_prefix=prefix,
            extra={"EVENTS_POLL_INTERVAL": POLL_SECONDS, **extra},
        )

    def serve(self, name: str, prefix: str) -> Process:
        backend = Process(
            name,
            serve_command(self.ports[name], f"roster-{name}"),
            cpus=None,
            env=self.environ(prefix, name),
            log=self.logs / f"serve-{name}.log",
        )
        backend.wait_http(f"http://127.0.0.1:{self.ports[name]}/healthz")
        return backend

    def events_worker(self, prefix: str) -> Process:
        return Process(
            "events",
            python("app.cli", "events", "--log-level", "warning"),
            cpus=None,
            env=self.environ(prefix),
            log=self.logs / "events.log",
        )

    def sync(self, prefix: str) -> tuple[float, str]:
        """`clever-login sync --district ID`: its wall time and what it printed."""
        began = time.perf_counter()
        done = subprocess.run(  # noqa: S603 - our own command
            python("app.cli", "sync", "--district", self.district_id),
            env={**os.environ, **self.environ(prefix)},
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        seconds = time.perf_counter() - began
        if done.returncode != 0:
            raise RuntimeError(f"clever-login sync exited {done.returncode}: {done.stderr.strip()}")
        return seconds, done.stdout.strip()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"


@contextlib.contextmanager
def running_stack(students: int, backends: tuple[str, ...] = ()) -> Iterator[Stack]:
    logs = Path(tempfile.mkdtemp(prefix="bench-roster-"))
    ports = {name: free_port() for name in ("redis", "sandbox", *backends)}
    callbacks = {name: f"http://127.0.0.1:{ports[name]}/auth/callback" for name in backends}
    callbacks.setdefault("store", "http://127.0.0.1:9/auth/callback")  # the sync's and worker's
    config = SandboxConfig(redirect_uris=tuple(callbacks.values()), students=students)
    print(f"  seeding a sandbox of {students} students ...", flush=True)
    redis_process = start_redis(ports["redis"], set(os.sched_getaffinity(0)), logs)
    sandbox = Process(
        "sandbox",
        python(
            "bench.sandbox",
            *("--port", str(ports["sandbox"]), "--students", str(students), "--plain"),
            *(arg for uri in config.redirect_uris for arg in ("--redirect-uri", uri)),
            *("--rate-limit", str(config.rate_limit_per_minute), "--rate-headers", config.rate_headers),
        ),
        cpus=None,
        log=logs / "sandbox.log",
    )
    try:
        # The same seed and size give the same district: this copy names its records.
        store = create_sandbox_app(config).state.sandbox.store
        sandbox_url = f"http://127.0.0.1:{ports['sandbox']}"
        sandbox.wait_http(f"{sandbox_url}/bench/stats", timeout=600)
        yield Stack(
            logs=logs,
            redis_url=f"redis://127.0.0.1:{ports['redis']}/0",
            sandbox_url=sandbox_url,
            config=config,
            store=store,
            district_id=store.district_ids()[0],
            callbacks=callbacks,
            ports=ports,
        )
    finally:
        sandbox.stop()
        redis_process.stop()


def diff(after: Counter[str], before: Counter[str]) -> Counter[str]:
    return Counter({key: after[key] - before[key] for key in after if after[key] - before[key]})


def data_calls(calls: Counter[str]) -> int:
    return sum(count for key, count in calls.items() if EVENTS_FEED not in key)


def data_api_calls(calls: Counter[str]) -> int:
    """Data API calls (`/v3.x/...`, the event stream aside): what spends a district token's budget."""
    return sum(count for key, count in calls.items() if "/v3." in key and EVENTS_FEED not in key)


def feed_calls(calls: Counter[str]) -> int:
    return sum(count for key, count in calls.items() if EVENTS_FEED in key)


def load_note() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} CPUs"


def now() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def write(name: str, text: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"roster-{name}.md").write_text(text + "\n")
    print()
    print(text)
    print(f"\nwritten: {RESULTS / f'roster-{name}.md'}")


def yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


async def district_bytes(redis: Redis, prefix: str, district_id: str) -> int:
    """MEMORY USAGE over every key of the district's roster copy."""
    tag = f"{{{district_id}}}".encode()
    total = 0
    async for key in redis.scan_iter(match=f"{prefix}ro:*", count=1000):
        if tag in key:
            total += int(await redis.memory_usage(key, samples=0) or 0)
    return total


# --- full sync ---------------------------------------------------------------------------------


async def sync_arm(students: int) -> str:
    with running_stack(students) as stack:
        before = stack.calls()
        seconds, printed = stack.sync(PREFIX_STORE)
        calls = diff(stack.calls(), before)
        redis = Redis.from_url(stack.redis_url)
        try:
            info = await RosterStore(redis, Keyring.from_secret(SESSION_SECRET), prefix=PREFIX_STORE).info(
                stack.district_id
            )
            assert info is not None, "the sync left no copy"
            total = await district_bytes(redis, PREFIX_STORE, stack.district_id)
        finally:
            await redis.aclose()
    users = info.counts["users"]
    per_user = total / users
    clever = sum(calls.values())
    lines = [
        f"## Roster: full sync of one district, {students} students, sandbox at Clever's limit "
        f"({CLEVER_LIMIT}/min)",
        "",
        f"`python -m bench.roster sync --students {students}`; {now()}; "
        f"{load_note()} at the end. Wall time is `clever-login sync --district ID`'s, process start "
        "included; the sync's own time is the copy's `seconds`. Redis bytes: `MEMORY USAGE` over "
        "the district's copy keys, default `STUDENT_FIELDS`.",
        "",
        "| users | Clever calls (at the sandbox) | calls (the sync's count) | wall s | sync s | "
        "Redis bytes | bytes / user |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {users} | {clever} | {info.calls} | {seconds:.1f} | {info.seconds:.1f} | {total} | "
        f"{per_user:.0f} |",
        "",
        "| target | measured | met |",
        "|---|---|---|",
        f"| under 40 Clever calls | {clever} | {yes(clever < 40)} |",
        f"| under 60 s | {seconds:.1f} s | {yes(seconds < 60)} |",
        f"| under 1 KB a user | {per_user:.0f} B | {yes(per_user < 1024)} |",
        "",
        "Calls by endpoint: " + ", ".join(f"{k} {v}" for k, v in sorted(calls.items())) + ".",
        f"The command printed: `{printed}`",
    ]
    return "\n".join(lines)


# --- login latency -----------------------------------------------------------------------------


@dataclass
class Timed:
    callback_ms: list[float]
    login_ms: list[float]
    sources: Counter[str]
    errors: int


async def timed_login(backend: str, user_id: str, into: Timed) -> None:
    async with Browser(backend) as browser:
        began = time.perf_counter()
        start = await browser.start_login()
        clever = await browser.sign_in_at_clever(start.location, user_id)
        at_callback = time.perf_counter()
        landed = await browser.callback(clever.location)
        ended = time.perf_counter()
        if landed.response.status_code != 302:
            into.errors += 1
            return
        session = await browser.session()
        source = session.json().get("roster", {}).get("source", "?") if session.status_code == 200 else "?"
    into.callback_ms.append((ended - at_callback) * 1000)
    into.login_ms.append((ended - began) * 1000)
    into.sources[str(source)] += 1


def p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def code_exchange(probe: httpx.AsyncClient, stack: Stack, user_id: str) -> float:
    """Milliseconds of one code exchange with the sandbox made as the backend makes it: a code the
    sandbox issued a moment before (the authorize step, untimed) for the store backend's callback,
    redeemed with the app's credentials, the id_token signed and answered. The round trip the
    target names, measured from this process on this machine at that moment."""
    redirect_uri = stack.callbacks["store"]
    authorize = await probe.get(
        "/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": stack.config.client_id,
            "redirect_uri": redirect_uri,
            "state": "bench",
            "nonce": "bench",
            "login_hint": user_id,
        },
    )
    assert authorize.status_code == 302, authorize.text
    code = parse_qs(urlsplit(authorize.headers["location"]).query)["code"][0]
    began = time.perf_counter()
    answer = await probe.post(
        "/oauth/tokens",
        json={"code": code, "grant_type": "authorization_code", "redirect_uri": redirect_uri},
        auth=(stack.config.client_id, stack.config.client_secret),
    )
    elapsed = (time.perf_counter() - began) * 1000
    assert answer.status_code == 200, answer.text
    assert "id_token" in answer.json(), "the sandbox answered no id_token"
    return elapsed


async def write_fresh_cursor(stack: Stack, prefix: str) -> None:
    """The cursor the events worker writes once it has read the stream to its end (as
    tests/support/roster_copy.py writes it), after the newest event the sandbox has."""
    events = stack.event_ids()
    after = events[-1] if events else None
    redis = Redis.from_url(stack.redis_url)
    try:
        await redis.set(
            cursor_key(prefix, stack.district_id), dump_cursor(Cursor(after, time.time())), ex=3600
        )
    finally:
        await redis.aclose()


async def latency_arm(students: int, logins: int, cursor: str) -> str:
    names = {"store": PREFIX_STORE, "live": PREFIX_LIVE}
    with running_stack(students, backends=tuple(names)) as stack, contextlib.ExitStack() as processes:
        stack.sync(PREFIX_STORE)
        if cursor == "worker":
            worker = stack.events_worker(PREFIX_STORE)
            processes.callback(worker.stop)
            await asyncio.sleep(3)  # its first poll reads the stream to its end
        else:
            await write_fresh_cursor(stack, PREFIX_STORE)
        for name, prefix in names.items():
            processes.callback(stack.serve(name, prefix).stop)
        user = next(
            str(u["id"])
            for u in stack.store.all("users")
            if u["district"] == stack.district_id and "student" in u["roles"]
        )
        inject_latency(stack.sandbox_url, LATENCY_MS)
        rows: list[tuple[str, str, Timed, Counter[str]]] = []
        trips: dict[str, list[float]] = {}
        async with httpx.AsyncClient(base_url=stack.sandbox_url, timeout=10) as probe:
            for label, limit in LIMITS.items():
                stack.set_limit(limit)
                for name in names:  # warm: discovery, keys, the district token, connections
                    await timed_login(stack.url(name), user, Timed([], [], Counter(), 0))
                timed = {name: Timed([], [], Counter(), 0) for name in names}
                calls = {name: Counter[str]() for name in names}
                trips[label] = []
                for turn in range(logins):
                    order = list(names) if turn % 2 == 0 else list(reversed(names))
                    for name in order:
                        before = stack.calls()
                        await timed_login(stack.url(name), user, timed[name])
                        calls[name] += diff(stack.calls(), before)
                    trips[label].append(await code_exchange(probe, stack, user))
                for name in names:
                    rows.append((name, label, timed[name], calls[name]))
    how = (
        "the events worker (`clever-login events`, polling every 1 s) keeps its cursor fresh"
        if cursor == "worker"
        else "its events cursor is written fresh once, as tests/support/roster_copy.py writes it"
    )
    lines = [
        f"## Roster: a login's latency, 1 user with an id_token, {LATENCY_MS:g} ms added to every "
        "Clever call",
        "",
        f"`python -m bench.roster latency --logins {logins} --cursor {cursor}`; "
        f"{now()}; {load_note()} at the end. "
        f"Two `clever-login serve` processes side by side, logins alternating: **store** on a "
        f"district synced by `clever-login sync` ({how}), **live** on a key prefix with no copy. "
        "Callback is /auth/callback alone (what a round trip to Clever can slow); the source is "
        "the session's `roster.source`. Calls per login exclude the worker's polls of the event stream. "
        "The sandbox, Redis and both backends are processes of their own; this process is the "
        'browser only. "Code exchange here" is this process\'s own code exchange with the sandbox '
        "(`code_exchange`: a code issued a moment before, redeemed with the app's credentials, "
        f"the same {LATENCY_MS:g} ms injected) after every pair of logins: the one Clever round trip "
        "a login from the store must make, as long as it took on this machine at that moment, "
        f"the loopback hop and the sandbox's signing of the id_token included. Ratios are p50 over "
        f'p50; "÷ {LATENCY_MS:g} ms" is over the injected latency alone.',
        "",
        f"| roster | rate limit | logins | callback p50 ms | callback p99 ms | p50 ÷ {LATENCY_MS:g} ms "
        "| code exchange here p50 ms | p50 ÷ code exchange here "
        "| whole login p50 ms | Clever calls / login | source seen | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    targets: list[str] = []
    for name, label, seen_timed, seen_calls in rows:
        p50 = p(seen_timed.callback_ms, 0.5)
        ratio = p50 / LATENCY_MS
        here = p(trips[label], 0.5)
        if name == "store":
            targets += [
                f"| store callback p50 ≤ 1.15 × one code exchange measured beside it ({label}) "
                f"| {p50:.1f} ms ÷ {here:.1f} ms = {p50 / here:.2f} × | {yes(p50 / here <= 1.15)} |",
                f"| store callback p50 ≤ 1.15 × {LATENCY_MS:g} ms, the injected latency alone ({label}) "
                f"| {ratio:.2f} × | {yes(ratio <= 1.15)} |",
            ]
        done = max(1, len(seen_timed.callback_ms))
        seen = ", ".join(f"{k} {v}" for k, v in sorted(seen_timed.sources.items()))
        p99 = p(seen_timed.callback_ms, 0.99)
        whole = statistics.median(seen_timed.login_ms) if seen_timed.login_ms else float("nan")
        lines.append(
            f"| {name} | {label} | {len(seen_timed.callback_ms)} | {p50:.1f} | {p99:.1f} "
            f"| {ratio:.2f} | {here:.1f} | {p50 / here:.2f} | {whole:.1f} "
            f"| {data_calls(seen_calls) / done:.2f} | {seen} | {seen_timed.errors} |"
        )
    lines += ["", "| target | measured | met |", "|---|---|---|", *targets]
    return "\n".join(lines)


# --- rollover ----------------------------------------------------------------------------------


async def cursor_after(redis: Redis, prefix: str, district_id: str) -> str | None:
    raw = await redis.get(cursor_key(prefix, district_id))
    parsed = parse_cursor(raw) if raw is not None else None
    return parsed.after if parsed is not None else None


async def log_in_all(backend: str, user_ids: list[str]) -> Timed:
    timed = Timed([], [], Counter(), 0)
    queue = list(reversed(user_ids))

    async def one_by_one() -> None:
        while queue:
            await timed_login(backend, queue.pop(), timed)

    await asyncio.gather(*(one_by_one() for _ in range(LOGIN_CONCURRENCY)))
    return timed


async def rollover_arm(students: int, sessions: int, events: int, seconds_allowed: float) -> str:
    students = max(students, sessions)
    with running_stack(students, backends=("store",)) as stack, contextlib.ExitStack() as processes:
        store = stack.store
        district = stack.district_id
        users = [u for u in store.all("users") if u["district"] == district]
        pupils = [str(u["id"]) for u in users if "student" in u["roles"]][:sessions]
        teacher = next(str(u["id"]) for u in users if set(u["roles"]) == {"teacher"})
        school = next(str(s["id"]) for s in store.all("schools") if s["district"] == district)
        # `events` sections, each with its own share of the logged-in students (2 each at the
        # issue's sizes), so that the updates concern every session once.
        share = max(1, len(pupils) // events)
        async with httpx.AsyncClient(base_url=stack.sandbox_url, timeout=30) as control:
            sections = []
            for index in range(events):
                members = pupils[(index * share) % len(pupils) :][:share]
                answer = await control.post(
                    "/sandbox/sections",
                    json={
                        "school": school,
                        "name": f"Rollover {index + 1}",
                        "subject": "math",
                        "grade": "5",
                        "period": "1",
                        "teacher": teacher,
                        "teachers": [teacher],
                        "students": members,
                    },
                )
                answer.raise_for_status()
                sections.append(str(answer.json()["id"]))
        stack.sync(PREFIX_STORE)
        worker = stack.events_worker(PREFIX_STORE)
        backend = stack.serve("store", PREFIX_STORE)
        processes.callback(backend.stop)
        await asyncio.sleep(3)  # the worker's first poll: the copy is fresh
        stack.set_limit(UNLIMITED)  # setting up the sessions only; the rollover runs at the limit
        began = time.perf_counter()
        logged = await log_in_all(stack.url("store"), pupils)
        setup = time.perf_counter() - began
        worker.stop()
        stack.set_limit(CLEVER_LIMIT)
        async with httpx.AsyncClient(base_url=stack.sandbox_url, timeout=30) as control:
            for section_id in sections:
                patched = await control.patch(f"/sandbox/sections/{section_id}", json={"period": "2"})
                patched.raise_for_status()
        emitted = stack.event_ids()
        newest = emitted[-1]
        redis = Redis.from_url(stack.redis_url)
        try:
            before = stack.calls()
            worker = stack.events_worker(PREFIX_STORE)
            processes.callback(worker.stop)
            began = time.perf_counter()
            after = await cursor_after(redis, PREFIX_STORE, district)
            while after != newest and time.perf_counter() - began < seconds_allowed:
                await asyncio.sleep(0.1)
                after = await cursor_after(redis, PREFIX_STORE, district)
            seconds = time.perf_counter() - began
            calls = diff(stack.calls(), before)
        finally:
            await redis.aclose()
        worker.stop()
    caught_up = after == newest
    applied = emitted.index(after) + 1 - (len(emitted) - events) if after in emitted else 0
    clever = data_api_calls(calls)
    oauth = sum(count for key, count in calls.items() if "/oauth/" in key)
    caught = "yes" if caught_up else f"no, stopped at {seconds_allowed:g} s"
    lines = [
        f"## Roster: rollover, {events} `sections.updated` events concerning {len(logged.callback_ms)} "
        f"live sessions, sandbox at Clever's limit ({CLEVER_LIMIT}/min)",
        "",
        f"`python -m bench.roster rollover --students {students} --sessions {sessions} --events {events} "
        f"--timeout {seconds_allowed:g}`; {now()}; {load_note()} at "
        f"the end. {events} sections of {share} logged-in students each; the sessions were made by "
        f"logging the students in through `clever-login serve` ({setup:.0f} s, sandbox unlimited for "
        f"that set-up only; sources {dict(logged.sources)}, {logged.errors} errors) with "
        "`clever-login events` running; the worker was then stopped, every section updated in "
        "the sandbox (one event each), and `clever-login events` started again. Time is from its "
        "start (process start included) until its cursor stands at the last event. OAuth calls "
        "are the worker's list of connected districts (`GET /oauth/tokens`, with the app's own "
        "credentials, at its start), on no district token's budget.",
        "",
        "| events applied | caught up | seconds | Data API calls | event-stream calls "
        "| OAuth calls (app credentials) | calls by endpoint |",
        "|---:|---|---:|---:|---:|---:|---|",
        f"| {max(0, applied)} of {events} | {caught} "
        f"| {seconds:.1f} | {clever} | {feed_calls(calls)} | {oauth} | "
        + ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
        + " |",
        "",
        "| target | measured | met |",
        "|---|---|---|",
        f"| 0 Data API calls (the event stream aside) | {clever} | {yes(clever == 0)} |",
        f"| applied in under 10 s | {f'{seconds:.1f} s' if caught_up else 'not applied'} "
        f"| {yes(caught_up and seconds < 10)} |",
    ]
    return "\n".join(lines)


# --- the command -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("arm", choices=["sync", "latency", "rollover", "all"])
    parser.add_argument("--students", type=int, default=None, help="students in the seeded district")
    parser.add_argument("--logins", type=int, default=100, help="latency: logins per roster source and limit")
    parser.add_argument("--cursor", choices=["worker", "written"], default="worker")
    parser.add_argument("--sessions", type=int, default=2000, help="rollover: live sessions")
    parser.add_argument("--events", type=int, default=1000, help="rollover: sections.updated events")
    parser.add_argument("--timeout", type=float, default=120.0, help="rollover: give the worker this long")
    args = parser.parse_args(argv)
    arms: Mapping[str, Any] = {
        "sync": lambda: sync_arm(args.students or 50_000),
        "latency": lambda: latency_arm(args.students or 24, args.logins, args.cursor),
        "rollover": lambda: rollover_arm(
            args.students or args.sessions, args.sessions, args.events, args.timeout
        ),
    }
    for name in arms if args.arm == "all" else [args.arm]:
        print(f"bench.roster {name} ...", flush=True)
        write(name, asyncio.run(arms[name]()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
