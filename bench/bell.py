"""The morning bell at Clever's real rate limit: logins that fall back to live Clever calls while
background work (event handling, a sync) spends the same district token.

    python -m bench.bell [--students 3000] [--logins 1500] [--concurrency 48] [--background 16]

Unlike the other arms (bench/sandbox.py raises the limit to 10^9), the sandbox here runs at 1200
requests a minute per token and sends `X-RateLimit-*` only on 429 answers, as Clever documents.
For each arm a fresh Redis (as `clever-login dev` finds one), sandbox (bench/sandbox.py, a
district of `--students` students) and backend (in a thread, as bench/login_calls.py runs it).
`--logins` distinct students log in, `--concurrency` at a time, while `--background` tasks
fetch students' sections (what an event's refresh costs) as fast as their budget lets them,
from a second before the bell, with a client and budget of their own, as the events worker has
in its own process. The arms differ in the background's rule only: "with priority" keeps the
default reserve (background stops while a quarter of the window is left), "without" lets
background spend the window as a login would.

Each login is timed from its start to the callback's answer; "in the first minute" counts the
logins that succeeded within 60 s of the bell, "refused" those answered `clever_unavailable`.
The third arm, "from the roster copy", is the one logins take in production: before the bell the
district is synced into the roster store (`sync_district`, as the events worker does at first
sight) and, during it, its events cursor is marked read every 2 s (as the worker's polls would
keep it), so logins read the copy and spend no call on the district token.

The load and the background share this process; all of it shares the machine's CPUs, so
latencies include that contention; the rule's effect is in the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from app.clever import CleverClient, CleverCredentials, CleverError, CleverHTTP, in_background
from app.clever.budget import CLEVER_LIMIT, BudgetPolicy, RateBudget
from app.crypto.keyring import Keyring
from app.dev.localredis import local_redis
from app.redis_client import close_redis, create_redis
from app.roster.district_tokens import DistrictTokens
from app.roster.store import RosterStore
from app.roster.sync import sync_district
from app.settings import Settings
from app.web.factory import create_app
from bench.processes import Process, free_port, python
from clever_sandbox import create_sandbox_app
from clever_sandbox.config import SandboxConfig
from tests.reliability.clever_faults import log_in
from tests.support.backend import backend_settings
from tests.support.browser import Browser
from tests.support.roster_copy import mark_events_read
from tests.support.servers import serve_in_thread

FIRST_MINUTE = 60.0
WITH, WITHOUT, STORE = "with priority", "without priority", "from the roster copy"
ARMS = {WITH: BudgetPolicy(), WITHOUT: BudgetPolicy(background_reserve=0.0), STORE: BudgetPolicy()}
FRESH_EVERY = 2.0
HEAD_START = 1.0


@dataclass
class Outcome:
    succeeded: list[tuple[float, float]] = field(default_factory=list)  # (done at, seconds)
    refused: int = 0
    other: dict[str, int] = field(default_factory=dict)
    background_calls: int = 0
    background_refused: int = 0
    wall: float = 0.0

    def in_first_minute(self) -> int:
        return sum(1 for done_at, _ in self.succeeded if done_at <= FIRST_MINUTE)

    def latency(self, share: float) -> float:
        seconds = sorted(seconds for _, seconds in self.succeeded)
        if not seconds:
            return float("nan")
        return seconds[min(len(seconds) - 1, int(share * len(seconds)))]


@contextmanager
def running(
    args: argparse.Namespace, logs: Path
) -> Iterator[tuple[str, str, SandboxConfig, list[str], Settings]]:
    """Redis, a sandbox at Clever's rule (a process of its own) and a backend on it (a thread of
    this one): the sandbox's and the backend's URLs, the sandbox's config, its students and the
    backend's settings."""
    port = free_port()
    sandbox_url = f"http://127.0.0.1:{port}"
    config = SandboxConfig(students=args.students, rate_headers="on_429")
    callback = config.redirect_uris[0]  # the backend's, as tests.support.backend sets it up
    # The same seed and size give the same district: this copy names its students.
    store = create_sandbox_app(config).state.sandbox.store
    district_id = store.district_ids()[0]
    pupils = [
        str(user["id"])
        for user in store.all("users")
        if user["district"] == district_id and set(user["roles"]) == {"student"}
    ]
    with ExitStack() as stack:
        redis_url = stack.enter_context(local_redis())
        sandbox = Process(
            "sandbox",
            python(
                "bench.sandbox",
                *("--port", str(port), "--redirect-uri", callback),
                *("--rate-limit", str(CLEVER_LIMIT), "--rate-headers", "on_429"),
                *("--students", str(args.students)),
            ),
            cpus=None,
            log=logs / "sandbox.log",
        )
        stack.callback(sandbox.stop)
        sandbox.wait_http(f"{sandbox_url}/bench/stats", timeout=120)
        settings = backend_settings(sandbox_url, config, redis_url=redis_url, key_prefix="bench:bell:")
        backend_url = stack.enter_context(serve_in_thread(create_app(settings)))
        yield sandbox_url, backend_url, config, pupils, settings


async def one_arm(args: argparse.Namespace, policy: BudgetPolicy, logs: Path, *, from_copy: bool) -> Outcome:
    outcome = Outcome()
    with running(args, logs) as (sandbox_url, backend, config, pupils, settings):
        oauth, api = CleverHTTP(sandbox_url), CleverHTTP(sandbox_url)
        worker = CleverClient(
            oauth=oauth,
            api=api,
            credentials=CleverCredentials(config.client_id, config.client_secret),
            budget=RateBudget(policy),
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
                    await worker.user_sections(token, rng.choice(pupils))
                    outcome.background_calls += 1
                except CleverError:
                    outcome.background_refused += 1
                    await asyncio.sleep(1.0)  # the worker backs off a district that failed

        chosen = pupils[: args.logins]
        queue: asyncio.Queue[str] = asyncio.Queue()
        for pupil in chosen:
            queue.put_nowait(pupil)

        async def student() -> None:
            while True:
                try:
                    pupil = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                began = time.monotonic()
                async with Browser(backend) as browser:
                    answer = await log_in(browser, pupil)
                done = time.monotonic()
                if answer.status == 302:
                    outcome.succeeded.append((done - bell, done - began))
                elif answer.code == "clever_unavailable":
                    outcome.refused += 1
                else:
                    outcome.other[f"{answer.status} {answer.code}"] = (
                        outcome.other.get(f"{answer.status} {answer.code}", 0) + 1
                    )

        redis = create_redis(str(settings.redis_url))
        prefix = settings.redis_key_prefix

        async def keep_fresh() -> None:
            while not stop.is_set():
                await mark_events_read(redis, prefix, district_id)
                await asyncio.sleep(FRESH_EVERY)

        loaders = [asyncio.create_task(background()) for _ in range(args.background)]
        if from_copy:
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
        try:
            await asyncio.wait_for(asyncio.gather(*(student() for _ in range(args.concurrency))), args.cap)
        except TimeoutError:
            outcome.other["not finished by the cap"] = queue.qsize() + args.concurrency
        outcome.wall = time.monotonic() - bell
        stop.set()
        for task in loaders:
            task.cancel()
        await asyncio.gather(*loaders, return_exceptions=True)
        await close_redis(redis)
        await oauth.aclose()
        await api.aclose()
    return outcome


def table(args: argparse.Namespace, results: dict[str, Outcome]) -> str:
    lines = [
        f"Morning bell: {args.logins} of {args.students} students, {args.concurrency} at a time, "
        f"{args.background} background tasks, sandbox at 1200/min with rate headers on 429 only",
        "",
        "| arm | logins ok in first minute | refused (clever_unavailable) | other | p50 s | p99 s "
        "| background calls | wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, outcome in results.items():
        other = sum(outcome.other.values())
        lines.append(
            f"| {name} | {outcome.in_first_minute()} | {outcome.refused} | {other} "
            f"| {outcome.latency(0.5):.2f} | {outcome.latency(0.99):.2f} "
            f"| {outcome.background_calls} | {outcome.wall:.1f} |"
        )
    with_rule, without = results[WITH], results[WITHOUT]
    if without.in_first_minute():
        ratio = with_rule.in_first_minute() / without.in_first_minute()
        lines.append(f"\nlogins in the first minute, with / without: {ratio:.2f}")
    if without.refused:
        lines.append(f"refused, with / without: {with_rule.refused / without.refused:.2f}")
    if with_rule.in_first_minute():
        ratio = results[STORE].in_first_minute() / with_rule.in_first_minute()
        lines.append(f"logins in the first minute, from the copy / live with priority: {ratio:.2f}")
    for name, outcome in results.items():
        if outcome.other:
            lines.append(f"{name}, other answers: {outcome.other}")
    return "\n".join(lines)


async def measure(args: argparse.Namespace) -> None:
    results: dict[str, Outcome] = {}
    logs = Path(tempfile.mkdtemp(prefix="bench-bell-"))
    print(f"logs in {logs}", flush=True)
    for name in (WITHOUT, WITH, STORE):
        results[name] = await one_arm(args, ARMS[name], logs, from_copy=name == STORE)
        done = results[name]
        print(f"{name}: {done.in_first_minute()} ok in the first minute, {done.refused} refused", flush=True)
    print()
    print(table(args, results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--students", type=int, default=3000)
    parser.add_argument("--logins", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=48)
    parser.add_argument("--background", type=int, default=16)
    parser.add_argument("--cap", type=float, default=90.0, help="seconds an arm's logins may take")
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
