"""Load: wrk (closed loop), a fixed-rate open-loop generator, and a login driver.

wrk (Debian's 4.1) has no fixed-rate mode (that is wrk2's `-R`), and no packaged tool on this
platform's registries does open-loop load with latency measured from the scheduled send time,
so `open_loop` does it: requests are due at exact intervals, each is sent on a kept-alive
connection as soon as it is due (a new connection when none is idle), and its latency runs from
when it was due, not from when it was sent, so a stalled server cannot hide its queue
(coordinated omission).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import aiohttp

from bench.processes import pinned

WRK_SCRIPT = Path(__file__).parent / "wrk_cookies.lua"


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- wrk --------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx/3xx answers plus socket errors


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not match:
        return float("nan")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(
    url: str,
    *,
    cookies_file: Path,
    connections: int,
    seconds: float,
    cpus: set[int] | None,
    threads: int = 1,
) -> WrkResult:
    """wrk --latency against `url`, each request with a cookie line picked at random from the file."""
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(WRK_SCRIPT),
        url,
        "--",
        str(cookies_file),
    ]
    done = subprocess.run(  # noqa: S603 - a fixed command
        pinned(command, cpus), capture_output=True, text=True, timeout=seconds + 30, check=True
    )
    out = done.stdout
    total = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    if total is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}\n{done.stderr}")
    duration = float(total.group(2)) * {"s": 1.0, "ms": 0.001, "m": 60.0}.get(total.group(3), 1.0)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    if sockets:
        errors += sum(int(n) for n in sockets.groups())
    requests = int(total.group(1))
    return WrkResult(
        requests=requests,
        seconds=duration,
        rps=requests / duration,
        p50_ms=_ms(p50.group(1)) if p50 else float("nan"),
        p99_ms=_ms(p99.group(1)) if p99 else float("nan"),
        errors=errors,
    )


# --- open loop --------------------------------------------------------------------------------


@dataclass
class OpenLoopResult:
    rate: float
    sent: int
    completed: int
    errors: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)

    @property
    def achieved(self) -> float:
        return self.completed / self.seconds

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 keep-alive connection that expects Content-Length framed answers."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("closed"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        match = re.search(rb"\r\ncontent-length:\s*(\d+)", head)
        length = int(match.group(1)) if match else 0
        if len(self.buffer) < end + 4 + length:
            return
        status = int(self.buffer[9:12])
        del self.buffer[: end + 4 + length]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(status)

    async def request(self, raw: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter


async def open_loop(
    host: str,
    port: int,
    path: str,
    cookies: Sequence[str],
    *,
    rate: float,
    seconds: float,
    max_connections: int = 64,
) -> OpenLoopResult:
    """`rate` requests/s for `seconds`, latency from each request's due time.

    At most `max_connections` connections, as wrk2 keeps a fixed set: a request due while all are
    busy waits for one, and that wait counts in its latency.
    """
    loop = asyncio.get_running_loop()
    idle: deque[_Connection] = deque()
    slots = asyncio.Semaphore(max_connections)
    requests = [
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n\r\n".encode()
        for cookie in cookies
    ]
    latencies: list[float] = []
    errors = 0
    pending: set[asyncio.Task[None]] = set()

    async def one(due: float, raw: bytes) -> None:
        nonlocal errors
        async with slots:
            try:
                connection = idle.pop() if idle else None
                if connection is None or connection.closed:
                    _, connection = await loop.create_connection(_Connection, host, port)
                status = await asyncio.wait_for(connection.request(raw), 10)
                latencies.append((time.perf_counter() - due) * 1000)
                if status >= 400:
                    errors += 1
                idle.append(connection)
            except Exception:  # any failure is the server's error count, not the generator's crash
                errors += 1

    interval = 1.0 / rate
    total = int(rate * seconds)
    start = time.perf_counter() + 0.05
    sent = 0
    while sent < total:
        now = time.perf_counter()
        while sent < total and start + sent * interval <= now:
            task = asyncio.create_task(one(start + sent * interval, requests[sent % len(requests)]))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += 1
        await asyncio.sleep(max(0.0, min(0.0005, start + sent * interval - time.perf_counter())))
    elapsed = time.perf_counter() - start
    if pending:
        await asyncio.wait(pending, timeout=10)
    for connection in idle:
        if connection.transport is not None:
            connection.transport.close()
    return OpenLoopResult(rate, sent, len(latencies), errors, elapsed, latencies)


# --- logins -----------------------------------------------------------------------------------


@dataclass
class LoginResult:
    arm: str
    users: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    errors: int
    cookies: list[str] = field(repr=False)
    total: int = 0  # completions including the warm-up, for per-login counts
    callback_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds


@dataclass(frozen=True)
class LoginTarget:
    """Where one app starts a login and which cookie holds its session afterwards."""

    login_url: str
    session_cookie: str


async def one_login(http: aiohttp.ClientSession, target: LoginTarget, user_id: str) -> tuple[str, float]:
    """A browser's whole login: the app's login URL, Clever's authorize (picking `user_id`
    with `login_hint`), the callback; answers the session cookie's value and the callback's
    own duration in seconds."""
    http.cookie_jar.clear()  # each login as a new visitor (connections stay open)
    async with http.get(target.login_url, allow_redirects=False) as start:
        authorize = start.headers.get("location", "")
        if start.status not in (302, 303, 307) or not authorize:
            raise RuntimeError(f"login answered {start.status}")
    parts = urlsplit(authorize)
    query = urlencode([*parse_qsl(parts.query), ("login_hint", user_id)])
    async with http.get(parts._replace(query=query).geturl(), allow_redirects=False) as clever:
        callback = clever.headers.get("location", "")
        if clever.status != 302 or not callback:
            raise RuntimeError(f"authorize answered {clever.status}")
    began = time.perf_counter()
    async with http.get(callback, allow_redirects=False) as landed:
        await landed.read()
        morsel = landed.cookies.get(target.session_cookie)
        if landed.status != 302 or morsel is None:
            raise RuntimeError(f"callback answered {landed.status}")
        return morsel.value, time.perf_counter() - began


async def logins(
    arm: str,
    target: LoginTarget,
    user_ids: Sequence[str],
    *,
    users: int,
    warmup: float,
    seconds: float,
    keep_cookies: int = 0,
) -> LoginResult:
    """`users` concurrent browsers logging in back to back (closed loop); counts what finishes
    inside the measured window and cancels what is still in flight at its end."""
    completions: list[tuple[float, float, float]] = []
    cookies: list[str] = []
    errors = 0
    measuring = False

    async def browser(index: int) -> None:
        nonlocal errors
        jar = aiohttp.CookieJar(unsafe=True)
        connector = aiohttp.TCPConnector(limit=4, force_close=False)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(cookie_jar=jar, connector=connector, timeout=timeout) as http:
            turn = index
            while True:
                user_id = user_ids[turn % len(user_ids)]
                turn += users
                began = time.perf_counter()
                try:
                    cookie, callback = await one_login(http, target, user_id)
                except (aiohttp.ClientError, RuntimeError, TimeoutError):
                    if measuring:
                        errors += 1
                    await asyncio.sleep(0.05)
                    continue
                finished = time.perf_counter()
                completions.append((finished, finished - began, callback))
                if len(cookies) < keep_cookies:
                    cookies.append(cookie)

    tasks = [asyncio.create_task(browser(index)) for index in range(users)]
    await asyncio.sleep(warmup)
    measuring = True
    begin = time.perf_counter()
    await asyncio.sleep(seconds)
    end = time.perf_counter()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    window = [(latency, callback) for finished, latency, callback in completions if begin <= finished <= end]
    return LoginResult(
        arm,
        users,
        end - begin,
        [latency * 1000 for latency, _ in window],
        errors,
        cookies,
        len(completions),
        [callback * 1000 for _, callback in window],
    )
