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
import contextlib
import gc
import re
import subprocess
import time
from collections import deque
from collections.abc import Callable, Sequence
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


_TICK = 0.001


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 keep-alive connection that expects Content-Length framed answers; tells
    `on_answer(connection, status)` of each (status None when the connection was lost)."""

    def __init__(self, on_answer: Callable[[_Connection, int | None], None]) -> None:
        self.on_answer = on_answer
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.due = 0.0  # when the request in flight was due
        self.busy = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.busy:
            self.busy = False
            self.on_answer(self, None)

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
        if self.busy:
            self.busy = False
            self.on_answer(self, status)

    def send(self, raw: bytes, due: float) -> None:
        assert self.transport is not None
        self.due, self.busy = due, True
        self.transport.write(raw)


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

    The generator shares a CPU with Redis, so it must cost little per request: requests go out
    from protocol callbacks (no task, future or timeout object per request), and its own garbage
    collection is off while it runs (in a process that has held a whole benchmark's objects, one
    full collection stalls the sending loop for tens of ms, and every request due meanwhile would
    be charged with it).
    """
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        return await _open_loop(host, port, path, cookies, rate, seconds, max_connections)
    finally:
        gc.enable()
        gc.unfreeze()


async def _open_loop(
    host: str, port: int, path: str, cookies: Sequence[str], rate: float, seconds: float, max_connections: int
) -> OpenLoopResult:
    loop = asyncio.get_running_loop()
    requests = [
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n\r\n".encode()
        for cookie in cookies
    ]
    latencies: list[float] = []
    errors = 0
    idle: deque[_Connection] = deque()
    waiting: deque[tuple[float, bytes]] = deque()  # due while every connection was busy
    connections = 0  # open or opening
    opening: set[asyncio.Task[None]] = set()
    outstanding = 0  # dispatched and not yet answered (waiting or in flight)
    all_sent = False
    drained = asyncio.Event()

    def answered(connection: _Connection, status: int | None) -> None:
        nonlocal errors, connections, outstanding
        outstanding -= 1
        if status is None:
            errors += 1
            connections -= 1
        else:
            latencies.append((time.perf_counter() - connection.due) * 1000)
            if status >= 400:
                errors += 1
        if all_sent and not outstanding:
            drained.set()
        if not connection.closed:
            ready(connection)

    def ready(connection: _Connection) -> None:
        """A free connection takes the oldest request still waiting, or waits itself."""
        if waiting:
            due, raw = waiting.popleft()
            connection.send(raw, due)
        else:
            idle.append(connection)

    async def open_one() -> None:
        nonlocal errors, connections
        try:
            _, connection = await loop.create_connection(lambda: _Connection(answered), host, port)
        except OSError:
            connections -= 1
            errors += 1
            return
        ready(connection)

    def dispatch(due: float, raw: bytes) -> None:
        nonlocal connections, outstanding
        outstanding += 1
        while idle:
            connection = idle.pop()
            if not connection.closed:
                connection.send(raw, due)
                return
        waiting.append((due, raw))
        if connections < max_connections:
            connections += 1
            task = loop.create_task(open_one())
            opening.add(task)
            task.add_done_callback(opening.discard)

    interval = 1.0 / rate
    total = int(rate * seconds)
    start = time.perf_counter() + 0.05
    sent = 0
    while sent < total:
        now = time.perf_counter()
        while sent < total and start + sent * interval <= now:
            dispatch(start + sent * interval, requests[sent % len(requests)])
            sent += 1
        # Event-loop timers have millisecond resolution (uvloop's shorter sleeps return at once, and
        # the loop would spin, starving Redis on this CPU): what falls due within a tick goes out
        # together, up to 1 ms late, and that lateness counts in its latency.
        await asyncio.sleep(max(_TICK, start + sent * interval - time.perf_counter()))
    elapsed = time.perf_counter() - start
    # What is still due or in flight gets up to 10 s to finish; what does not is an error.
    all_sent = True
    if outstanding:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(drained.wait(), 10)
    unfinished = outstanding
    for connection in idle:
        if connection.transport is not None:
            connection.transport.close()
    return OpenLoopResult(rate, sent, len(latencies), errors + unfinished, elapsed, latencies)


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
