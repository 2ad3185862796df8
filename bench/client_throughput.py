"""Data API calls per second at 64 concurrent requests: our client against plain aiohttp and httpx.

    .venv/bin/python -m bench.client_throughput        (or `make bench`)

The sandbox runs in its own process (uvicorn, uvloop + httptools), with every GET under
`/v3.1/users/` delayed 20 ms by a fault rule, as a stand-in for Clever's own latency. Its rate
limit is raised far above Clever's 1200/min so that it measures the clients, not the limit.
With two or more CPUs the sandbox is pinned to the first and this process to the second, so
the clients do not share a core with the server's event loop. The clients run on uvloop, as
the service does under uvicorn.

Each arm fetches `/v3.1/users/{id}` with a district token and parses the answer into the same
`User` model, closed loop, from `concurrency` tasks:

- ours:    CleverClient over `CleverHTTP` (aiohttp);
- aiohttp: one aiohttp.ClientSession with its defaults;
- httpx:   one httpx.AsyncClient with its default transport and limits (encode/httpx#3215).

Arms alternate within each repetition (rotating order); each round builds a fresh client, warms
it up (excluded), counts completions for `duration` seconds and cancels what is still in flight.
Results: median calls/s over repetitions, p50/p99 over all measured calls, the ratios to
aiohttp (median of each repetition's own ratio), CPU of both processes and client CPU per call,
and Little's-law ceiling (concurrency / latency). A fourth arm, our pooled connection
(`CleverHTTP`) without the client, shows what the client itself adds. Written also to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import socket
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiohttp
import httpx
import uvloop

from app.clever import CleverClient, CleverCredentials, CleverHTTP
from app.clever.models import Envelope, User
from clever_sandbox.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

RATE_LIMIT = 10**9
RESULTS = Path(__file__).parent / "results" / "client_throughput.json"

Call = Callable[[], Awaitable[object]]


@dataclass
class Round:
    arm: str
    calls: int
    errors: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    client_cpu_s: float
    server_cpu_s: float

    @property
    def rate(self) -> float:
        return self.calls / self.seconds


# --- the sandbox, in its own process ----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve_sandbox(port: int, cpu: int | None) -> None:
    import uvicorn

    from clever_sandbox import create_sandbox_app
    from clever_sandbox.config import SandboxConfig

    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    app = create_sandbox_app(SandboxConfig(rate_limit_per_minute=RATE_LIMIT, rate_headers="every"))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


@contextlib.contextmanager
def sandbox_process(cpu: int | None) -> Iterator[tuple[str, int]]:
    port = _free_port()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve_sandbox, args=(port, cpu), daemon=True
    )
    process.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/sandbox/faults", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or not process.is_alive():
                    raise RuntimeError("the sandbox did not start") from None
                time.sleep(0.1)
        assert process.pid is not None
        yield url, process.pid
    finally:
        process.terminate()
        process.join(10)


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (0 where that is not available)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the arms ---------------------------------------------------------------------------------


def _parse_user(body: bytes) -> User:
    return Envelope[User].model_validate_json(body).data


@contextlib.asynccontextmanager
async def ours(url: str, token: str, user_id: str) -> AsyncIterator[Call]:
    oauth, api = CleverHTTP(url), CleverHTTP(url)
    client = CleverClient(
        oauth=oauth, api=api, credentials=CleverCredentials(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    )
    try:
        yield lambda: client.user(token, user_id)
    finally:
        await oauth.aclose()
        await api.aclose()


@contextlib.asynccontextmanager
async def plain_aiohttp(url: str, token: str, user_id: str) -> AsyncIterator[Call]:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(base_url=url, headers=headers) as session:

        async def call() -> User:
            async with session.get(f"/v3.1/users/{user_id}") as response:
                response.raise_for_status()
                return _parse_user(await response.read())

        yield call


@contextlib.asynccontextmanager
async def plain_httpx(url: str, token: str, user_id: str) -> AsyncIterator[Call]:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers) as client:

        async def call() -> User:
            response = await client.get(f"/v3.1/users/{user_id}")
            response.raise_for_status()
            return _parse_user(response.content)

        yield call


@contextlib.asynccontextmanager
async def bare_transport(url: str, token: str, user_id: str) -> AsyncIterator[Call]:
    """Our pooled connection (`CleverHTTP`) without the client: what retries, breaker and budget cost."""
    async with CleverHTTP(url) as client:
        headers = {"Authorization": f"Bearer {token}"}

        async def call() -> User:
            async with client.request("GET", f"/v3.1/users/{user_id}", headers=headers) as response:
                if response.status != 200:
                    raise RuntimeError(f"status {response.status}")
                return _parse_user(await response.read())

        yield call


OURS, HTTPX, BARE = (
    "ours (CleverClient on aiohttp)",
    "httpx (default transport)",
    "CleverHTTP alone",
)
ARMS: dict[str, Callable[[str, str, str], AbstractAsyncContextManager[Call]]] = {
    OURS: ours,
    "aiohttp": plain_aiohttp,
    HTTPX: plain_httpx,
    BARE: bare_transport,
}


async def run_round(
    arm: str,
    url: str,
    token: str,
    user_id: str,
    *,
    concurrency: int,
    warmup: float,
    duration: float,
    server_pid: int,
) -> Round:
    completions: list[tuple[float, float]] = []
    errors = 0

    async with ARMS[arm](url, token, user_id) as call:

        async def worker() -> None:
            nonlocal errors
            while True:
                started = time.perf_counter()
                try:
                    await call()
                except Exception:
                    errors += 1
                    await asyncio.sleep(0.01)
                    continue
                finished = time.perf_counter()
                completions.append((finished, finished - started))

        tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
        await asyncio.sleep(warmup)
        begin, cpu0, server0 = time.perf_counter(), time.process_time(), process_cpu_seconds(server_pid)
        errors = 0
        await asyncio.sleep(duration)
        end, cpu1, server1 = time.perf_counter(), time.process_time(), process_cpu_seconds(server_pid)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    measured = [latency * 1000 for finished, latency in completions if begin <= finished <= end]
    return Round(arm, len(measured), errors, end - begin, measured, cpu1 - cpu0, server1 - server0)


async def setup(url: str) -> tuple[str, str]:
    """A district token the real way (GET /oauth/tokens) and a teacher to fetch."""
    oauth, api = CleverHTTP(url), CleverHTTP(url)
    client = CleverClient(
        oauth=oauth, api=api, credentials=CleverCredentials(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    )
    try:
        tokens = await client.district_tokens()
        token = tokens[0].access_token
        teachers = await client.users(token, role="teacher")
        return token, teachers[0].id
    finally:
        await oauth.aclose()
        await api.aclose()


def paired_ratio(rounds: list[Round], arm: str, reference: str) -> float:
    """Median over repetitions of arm ÷ reference within the same repetition.

    Arms of one repetition run back to back, so a load change on the machine between
    repetitions moves both sides of each ratio together.
    """
    mine = [r.rate for r in rounds if r.arm == arm]
    theirs = [r.rate for r in rounds if r.arm == reference]
    return statistics.median(a / b for a, b in zip(mine, theirs, strict=True))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def bench(args: argparse.Namespace, url: str, server_pid: int) -> list[Round]:
    token, user_id = await setup(url)
    fault = {
        "path": "/v3.1/users/*",
        "method": "GET",
        "status": None,
        "latency_ms": args.latency_ms,
        "count": None,
    }
    async with httpx.AsyncClient(base_url=url) as control:
        (await control.post("/sandbox/faults", json=fault)).raise_for_status()
    names = list(ARMS)
    rounds: list[Round] = []
    for repetition in range(args.repetitions):
        order = names[repetition % len(names) :] + names[: repetition % len(names)]
        for arm in order:
            result = await run_round(
                arm,
                url,
                token,
                user_id,
                concurrency=args.concurrency,
                warmup=args.warmup,
                duration=args.duration,
                server_pid=server_pid,
            )
            print(f"  rep {repetition + 1} {arm:34} {result.rate:8.1f} calls/s  errors {result.errors}")
            rounds.append(result)
    return rounds


def report(args: argparse.Namespace, rounds: list[Round], layout: str) -> dict[str, object]:
    ceiling = args.concurrency / (args.latency_ms / 1000)
    summary: dict[str, dict[str, float]] = {}
    for arm in ARMS:
        mine = [r for r in rounds if r.arm == arm]
        latencies = [value for r in mine for value in r.latencies_ms]
        seconds = sum(r.seconds for r in mine)
        summary[arm] = {
            "calls_per_s": statistics.median(r.rate for r in mine),
            "min": min(r.rate for r in mine),
            "max": max(r.rate for r in mine),
            "p50_ms": percentile(latencies, 0.50),
            "p99_ms": percentile(latencies, 0.99),
            "errors": sum(r.errors for r in mine),
            "client_cpu_pct": 100 * sum(r.client_cpu_s for r in mine) / seconds,
            "client_cpu_ms_per_call": 1000
            * sum(r.client_cpu_s for r in mine)
            / max(1, sum(r.calls for r in mine)),
            "server_cpu_pct": 100 * sum(r.server_cpu_s for r in mine) / seconds,
        }
    base = summary["aiohttp"]["calls_per_s"]
    ratios = {
        "ours_over_aiohttp": paired_ratio(rounds, OURS, "aiohttp"),
        "httpx_over_aiohttp": paired_ratio(rounds, HTTPX, "aiohttp"),
        "bare_connection_over_aiohttp": paired_ratio(rounds, BARE, "aiohttp"),
    }

    print()
    print(
        f"GET /v3.1/users/{{id}} + User model, {args.concurrency} concurrent, "
        f"{args.latency_ms:g} ms injected latency, "
        f"{args.repetitions} x {args.duration:g} s per arm after {args.warmup:g} s warm-up"
    )
    print(
        "sandbox: separate process, uvicorn + uvloop + httptools, "
        f"rate limit raised to {RATE_LIMIT}/min/token"
    )
    print(f"layout: {layout}; Little's-law ceiling {ceiling:.0f} calls/s")
    print()
    print(
        f"{'arm':34} {'calls/s':>9} {'(min-max)':>17} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'client CPU':>11} {'CPU ms/call':>12} {'sandbox CPU':>12}"
    )
    for arm, row in summary.items():
        span = f"({row['min']:.0f}-{row['max']:.0f})"
        print(
            f"{arm:34} {row['calls_per_s']:9.1f} {span:>17} {row['p50_ms']:8.1f} {row['p99_ms']:8.1f} "
            f"{row['client_cpu_pct']:10.0f}% {row['client_cpu_ms_per_call']:12.3f} "
            f"{row['server_cpu_pct']:11.0f}%"
        )
    print()
    print("ratios, median over repetitions of each repetition's own ratio (robust to load drift):")
    print(f"  ours / aiohttp  = {ratios['ours_over_aiohttp']:.2f}")
    print(f"  httpx / aiohttp = {ratios['httpx_over_aiohttp']:.2f}")
    print(f"  CleverHTTP alone / aiohttp = {ratios['bare_connection_over_aiohttp']:.2f}")
    print(f"aiohttp / ceiling = {base / ceiling:.2f}")
    return {
        "arms": summary,
        "ratios": ratios,
        "ceiling_calls_per_s": ceiling,
        "settings": vars(args),
        "layout": layout,
        "rate_limit_per_minute": RATE_LIMIT,
        "rounds": [{k: v for k, v in asdict(r).items() if k != "latencies_ms"} for r in rounds],
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": {"httpx": httpx.__version__, "aiohttp": aiohttp.__version__},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--duration", type=float, default=3.0, help="measured seconds per round")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds per round")
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args(argv)

    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, client_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    layout = (
        f"sandbox pinned to CPU {server_cpu}, clients to CPU {client_cpu}"
        if client_cpu is not None
        else "one CPU shared by sandbox and clients"
    )
    with sandbox_process(server_cpu) as (url, pid):
        if client_cpu is not None:
            os.sched_setaffinity(0, {client_cpu})
        print(f"sandbox at {url} (pid {pid}); {layout}")
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            rounds = runner.run(bench(args, url, pid))
    result = report(args, rounds, layout)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"\nwritten to {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}"
    )


if __name__ == "__main__":
    main()
