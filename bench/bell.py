"""The morning bell at Clever's real rate limit: logins that fall back to live Clever calls while
background work (event handling, a sync) spends the same district token.

    python -m bench.bell [--students 3000] [--logins 1500] [--concurrency 48] [--background 16]

Unlike the other arms (bench/sandbox.py raises the limit to 10^9), the sandbox here runs at 1200
requests a minute per token and sends `X-RateLimit-*` only on 429 answers, as Clever documents.
For each arm a fresh stack of separate processes, as the suite starts them (bench/suite.py): a
redis-server of its own, the sandbox (bench/sandbox.py, a district of `--students` students)
and the backend as `clever-login serve` (one worker); this process is the load generator only.
`--logins` distinct students log in, `--concurrency` at a time (each slot a browser of its own,
its cookies cleared before every login, its connections kept, as bench/loadgen.py's logins
are), while `--background` tasks fetch students' sections (what an event's refresh costs) as
fast as their budget lets them, from a second before the bell, with a client and budget of their
own, as the events worker has in its own process. The arms differ in the background's rule
only: "with priority" keeps the default reserve (background stops while a quarter of the window
is left), "without" lets background spend the window as a login would.

Each login is timed from its start to the callback's answer; "in the first minute" counts the
logins that succeeded within 60 s of the bell, "refused" those answered `clever_unavailable`,
"a minute" is the logins that succeeded divided by the time they took (the bell to the last
of them), times 60, for an arm with no refusal (a refused login is answered at once, so such an
arm is over in seconds, and the first minute's count is its measure). The third arm, "from the
roster copy", is the one logins take in production: before the bell the district is synced
into the roster store (`sync_district`, as the events worker does at first sight, against the
same sandbox and Redis) and, during it, its events cursor is marked read every 2 s (as the
worker's polls would keep it), so logins read the copy and spend no call on the district token.

The backend's CPU time per login (from /proc) gives its own ceiling on one core whatever else
the machine runs; the load side's CPU share says when the generator, not the backend, is the
limit. With BENCH_PROFILE_DIR set, each arm's backend runs under cProfile (bench/processes.py).
Prints the table and writes it to bench/results/bell.md; `make bench` runs it too (bench/suite.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import aiohttp

from app.clever import CleverClient, CleverCredentials, CleverError, CleverHTTP, in_background
from app.clever.budget import CLEVER_LIMIT, BudgetPolicy, RateBudget
from app.crypto.keyring import Keyring
from app.redis_client import close_redis, create_redis
from app.roster.district_tokens import DistrictTokens
from app.roster.store import RosterStore
from app.roster.sync import sync_district
from app.settings import Settings, load_settings
from bench.processes import Process, free_port, python, serve_command, start_redis
from clever_sandbox import create_sandbox_app
from clever_sandbox.config import SandboxConfig
from tests.support.backend import backend_environ
from tests.support.roster_copy import mark_events_read

FIRST_MINUTE = 60.0
WITH, WITHOUT, STORE = "with priority", "without priority", "from the roster copy"
ARMS = {WITH: BudgetPolicy(), WITHOUT: BudgetPolicy(background_reserve=0.0), STORE: BudgetPolicy()}
FRESH_EVERY = 2.0
HEAD_START = 1.0
PREFIX = "bench:bell:"
TARGET_PER_MINUTE, TARGET_P99 = 6000, 1.0


@dataclass
class Outcome:
    succeeded: list[tuple[float, float]] = field(default_factory=list)  # (done at, seconds)
    refused: int = 0
    other: dict[str, int] = field(default_factory=dict)
    background_calls: int = 0
    background_refused: int = 0
    wall: float = 0.0
    backend_cpu: float = 0.0  # seconds of CPU the backend process spent from the bell to the end
    sandbox_cpu: float = 0.0
    load_cpu: float = 0.0  # this process: the browsers, the background and the cursor

    def in_first_minute(self) -> int:
        return sum(1 for done_at, _ in self.succeeded if done_at <= FIRST_MINUTE)

    def per_minute(self) -> float:
        """Logins that succeeded a minute: their count over the time from the bell to the last."""
        if not self.succeeded:
            return 0.0
        return 60 * len(self.succeeded) / max(done_at for done_at, _ in self.succeeded)

    def latency(self, share: float) -> float:
        seconds = sorted(seconds for _, seconds in self.succeeded)
        if not seconds:
            return float("nan")
        return seconds[min(len(seconds) - 1, int(share * len(seconds)))]

    def backend_ms_per_login(self) -> float:
        return 1000 * self.backend_cpu / max(1, len(self.succeeded) + self.refused)

    def share(self, cpu: float) -> float:
        return 100 * cpu / self.wall if self.wall else float("nan")

    def count(self, what: str) -> None:
        self.other[what] = self.other.get(what, 0) + 1


@dataclass
class Stack:
    sandbox_url: str
    backend_url: str
    config: SandboxConfig
    pupils: list[str]
    settings: Settings
    backend: Process
    sandbox: Process


@contextmanager
def running(args: argparse.Namespace, logs: Path, name: str) -> Iterator[Stack]:
    """Redis, a sandbox at Clever's rule and the backend (`clever-login serve`), each a process
    of its own on a free loopback port, as the suite starts them."""
    ports = {part: free_port() for part in ("redis", "sandbox", "backend")}
    sandbox_url = f"http://127.0.0.1:{ports['sandbox']}"
    backend_url = f"http://127.0.0.1:{ports['backend']}"
    config = SandboxConfig(
        students=args.students, rate_headers="on_429", redirect_uris=(f"{backend_url}/auth/callback",)
    )
    # The same seed and size give the same district: this copy names its students.
    store = create_sandbox_app(config).state.sandbox.store
    district_id = store.district_ids()[0]
    pupils = [
        str(user["id"])
        for user in store.all("users")
        if user["district"] == district_id and set(user["roles"]) == {"student"}
    ]
    slug = name.replace(" ", "-")
    with ExitStack() as stack:
        redis_process = start_redis(ports["redis"], set(os.sched_getaffinity(0)), logs)
        stack.callback(redis_process.stop)
        redis_url = f"redis://127.0.0.1:{ports['redis']}/0"
        sandbox = Process(
            "sandbox",
            python(
                "bench.sandbox",
                *("--port", str(ports["sandbox"]), "--redirect-uri", config.redirect_uris[0]),
                *("--rate-limit", str(CLEVER_LIMIT), "--rate-headers", "on_429"),
                *("--students", str(args.students)),
            ),
            cpus=None,
            log=logs / f"sandbox-{slug}.log",
        )
        stack.callback(sandbox.stop)
        sandbox.wait_http(f"{sandbox_url}/bench/stats", timeout=120)
        environ = backend_environ(sandbox_url, config, redis_url=redis_url, key_prefix=PREFIX)
        backend = Process(
            "backend",
            serve_command(ports["backend"], f"bell-{slug}"),
            cpus=None,
            env=environ,
            log=logs / f"serve-{slug}.log",
        )
        stack.callback(backend.stop)
        backend.wait_http(f"{backend_url}/healthz", timeout=60)
        yield Stack(sandbox_url, backend_url, config, pupils, load_settings(environ), backend, sandbox)


def error_code(status: int, content_type: str, text: str) -> str:
    """The stable error code of a callback's answer, from the JSON body or the friendly page."""
    if content_type.startswith("application/json"):
        return str(json.loads(text).get("error", ""))
    marker = "Error code: "
    return text.split(marker, 1)[1].split("<", 1)[0] if marker in text else f"status {status}"


async def log_in(http: aiohttp.ClientSession, backend: str, pupil: str) -> str:
    """A browser's whole login (the backend's /auth/login, Clever's authorize picking `pupil`
    with `login_hint`, the callback): "" when it landed, else the callback's error code."""
    http.cookie_jar.clear()  # each login as a new visitor
    async with http.get(f"{backend}/auth/login", allow_redirects=False) as start:
        authorize = start.headers.get("location", "")
        if start.status != 302 or not authorize:
            return f"login {start.status}"
    parts = urlsplit(authorize)
    query = urlencode([*parse_qsl(parts.query), ("login_hint", pupil)])
    async with http.get(parts._replace(query=query).geturl(), allow_redirects=False) as clever:
        callback = clever.headers.get("location", "")
        if clever.status != 302 or not callback:
            return f"authorize {clever.status}"
    async with http.get(callback, allow_redirects=False) as landed:
        text = await landed.text()
        if landed.status == 302:
            return ""
        return error_code(landed.status, landed.headers.get("content-type", ""), text)


async def one_arm(args: argparse.Namespace, name: str, logs: Path) -> Outcome:
    outcome = Outcome()
    with running(args, logs, name) as stack:
        settings, config = stack.settings, stack.config
        oauth, api = CleverHTTP(stack.sandbox_url), CleverHTTP(stack.sandbox_url)
        worker = CleverClient(
            oauth=oauth,
            api=api,
            credentials=CleverCredentials(config.client_id, config.client_secret),
            budget=RateBudget(ARMS[name]),
        )
        granted = await worker.district_tokens()
        token, district_id = granted[0].access_token, granted[0].owner.id
        worker.budget.track(token, district_id)
        stop = asyncio.Event()
        rng = random.Random(1)

        @in_background
        async def background() -> None:
            while not stop.is_set():
                try:
                    await worker.user_sections(token, rng.choice(stack.pupils))
                    outcome.background_calls += 1
                except CleverError:
                    outcome.background_refused += 1
                    await asyncio.sleep(1.0)  # the worker backs off a district that failed

        queue: asyncio.Queue[str] = asyncio.Queue()
        for pupil in stack.pupils[: args.logins]:
            queue.put_nowait(pupil)

        async def student() -> None:
            jar = aiohttp.CookieJar(unsafe=True)
            connector = aiohttp.TCPConnector(limit=4)
            timeout = aiohttp.ClientTimeout(total=30)
            async with aiohttp.ClientSession(cookie_jar=jar, connector=connector, timeout=timeout) as http:
                while True:
                    try:
                        pupil = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        return
                    began = time.monotonic()
                    try:
                        code = await log_in(http, stack.backend_url, pupil)
                    except (aiohttp.ClientError, TimeoutError) as error:
                        code = f"transport {type(error).__name__}"
                    done = time.monotonic()
                    if not code:
                        outcome.succeeded.append((done - bell, done - began))
                    elif code == "clever_unavailable":
                        outcome.refused += 1
                    else:
                        outcome.count(code)

        redis = create_redis(str(settings.redis_url))
        prefix = settings.redis_key_prefix

        async def keep_fresh() -> None:
            while not stop.is_set():
                await mark_events_read(redis, prefix, district_id)
                await asyncio.sleep(FRESH_EVERY)

        loaders = [asyncio.create_task(background()) for _ in range(args.background)]
        if name == STORE:
            keyring = Keyring.from_secret(str(settings.session_secret))
            tokens = DistrictTokens(redis, worker, sealing_key=keyring.district_token_sealing, prefix=prefix)
            roster = RosterStore(redis, keyring, prefix=prefix)
            report = await sync_district(
                worker, tokens, roster, district_id, student_fields=settings.student_fields
            )
            print(f"  synced the district: {report.calls} calls", flush=True)
            loaders.append(asyncio.create_task(keep_fresh()))
        await asyncio.sleep(HEAD_START)
        bell = time.monotonic()
        cpu = (stack.backend.cpu_seconds(), stack.sandbox.cpu_seconds(), time.process_time())
        try:
            await asyncio.wait_for(asyncio.gather(*(student() for _ in range(args.concurrency))), args.cap)
        except TimeoutError:
            outcome.other["not finished by the cap"] = queue.qsize() + args.concurrency
        outcome.wall = time.monotonic() - bell
        outcome.backend_cpu = stack.backend.cpu_seconds() - cpu[0]
        outcome.sandbox_cpu = stack.sandbox.cpu_seconds() - cpu[1]
        outcome.load_cpu = time.process_time() - cpu[2]
        stop.set()
        for task in loaders:
            task.cancel()
        await asyncio.gather(*loaders, return_exceptions=True)
        await close_redis(redis)
        await oauth.aclose()
        await api.aclose()
    return outcome


def table(args: argparse.Namespace, results: dict[str, Outcome]) -> str:
    one, five, _ = os.getloadavg()
    lines = [
        f"## Morning bell: {args.logins} of {args.students} students, {args.concurrency} at a time, "
        f"{args.background} background tasks, sandbox at Clever's limit ({CLEVER_LIMIT}/min)",
        "",
        f"`python -m bench.bell --students {args.students} --logins {args.logins} --concurrency "
        f"{args.concurrency} --background {args.background} --cap {args.cap:g}`; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average {one:.1f} (1 min), "
        f"{five:.1f} (5 min) on {os.cpu_count()} CPUs shared with other work at the end. Rate headers on "
        "429 only; Redis, the sandbox and `clever-login serve` (1 worker) each a process of its own, "
        "unpinned; this process is the load generator (the browsers, the background tasks, the "
        "cursor). CPU shares are of one core over the arm's wall time.",
        "",
        "| arm | logins ok in first minute | logins ok a minute | refused (clever_unavailable) "
        "| other | p50 s | p99 s | background calls | wall s | backend CPU ms / login "
        "| backend CPU % | sandbox CPU % | load side CPU % |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, outcome in results.items():
        other = sum(outcome.other.values())
        # A refusal comes at once, so an arm refused ends within seconds of the bell: its pace
        # over those seconds is no rate a minute (the window's share bounds it: first column).
        pace = f"{outcome.per_minute():.0f}" if outcome.succeeded and not outcome.refused else "–"
        lines.append(
            f"| {name} | {outcome.in_first_minute()} | {pace} | {outcome.refused} "
            f"| {other} | {outcome.latency(0.5):.2f} | {outcome.latency(0.99):.2f} "
            f"| {outcome.background_calls} | {outcome.wall:.1f} | {outcome.backend_ms_per_login():.2f} "
            f"| {outcome.share(outcome.backend_cpu):.0f} | {outcome.share(outcome.sandbox_cpu):.0f} "
            f"| {outcome.share(outcome.load_cpu):.0f} |"
        )
    with_rule, without, store = results[WITH], results[WITHOUT], results[STORE]
    lines.append("")
    if without.in_first_minute():
        ratio = with_rule.in_first_minute() / without.in_first_minute()
        lines.append(f"logins in the first minute, with / without: {ratio:.2f}")
    if without.refused:
        lines.append(f"refused, with / without: {with_rule.refused / without.refused:.2f}")
    if with_rule.in_first_minute():
        ratio = store.in_first_minute() / with_rule.in_first_minute()
        lines.append(f"logins in the first minute, from the copy / live with priority: {ratio:.2f}")
    ceiling = 60_000 / store.backend_ms_per_login() if store.succeeded else float("nan")
    lines.append(
        f"from the copy, the backend's own ceiling on a whole core: {ceiling:.0f} logins a minute "
        f"({store.backend_ms_per_login():.2f} ms of its CPU per login)"
    )
    for name, outcome in results.items():
        if outcome.other:
            lines.append(f"{name}, other answers: {outcome.other}")
    per_minute, p99 = store.per_minute(), store.latency(0.99)
    lines += [
        "",
        "| target (from the roster copy) | measured | met |",
        "|---|---|---|",
        f"| ≥ {TARGET_PER_MINUTE:,} logins a minute | {per_minute:,.0f} "
        f"| {yes(per_minute >= TARGET_PER_MINUTE)} |",
        f"| no `clever_unavailable` | {store.refused} | {yes(store.refused == 0)} |",
        f"| p99 under {TARGET_P99:g} s | {p99:.2f} s | {yes(p99 < TARGET_P99)} |",
    ]
    return "\n".join(lines)


def yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


async def measure(args: argparse.Namespace) -> str:
    results: dict[str, Outcome] = {}
    logs = Path(tempfile.mkdtemp(prefix="bench-bell-"))
    print(f"logs in {logs}", flush=True)
    for name in (WITHOUT, WITH, STORE):
        results[name] = await one_arm(args, name, logs)
        done = results[name]
        print(
            f"{name}: {done.in_first_minute()} ok in the first minute, {done.per_minute():.0f} a minute, "
            f"{done.refused} refused",
            flush=True,
        )
    return table(args, results)


def parser() -> argparse.ArgumentParser:
    parsed = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parsed.add_argument("--students", type=int, default=3000)
    parsed.add_argument("--logins", type=int, default=1500)
    parsed.add_argument("--concurrency", type=int, default=48)
    parsed.add_argument("--background", type=int, default=16)
    parsed.add_argument("--cap", type=float, default=90.0, help="seconds an arm's logins may take")
    return parsed


RESULTS = Path(__file__).parent / "results"


def write(text: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bell.md").write_text(text + "\n")


def main(argv: list[str] | None = None) -> None:
    text = asyncio.run(measure(parser().parse_args(argv)))
    write(text)
    print()
    print(text)
    print(f"\nwritten: {RESULTS / 'bell.md'}")


if __name__ == "__main__":
    main()
