"""Hostile HTTP clients over raw sockets, and what they cost the server, read from /proc.

Used by tests/security/test_slow_clients.py at sizes a test can afford and by
bench/slow_clients.py at the sizes of the original report.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

CHUNK = 64 * 1024


def rss_kib(pid: int) -> int:
    """Resident memory of `pid` now."""
    return _status_kib(pid, "VmRSS")


def peak_rss_kib(pid: int) -> int:
    """The most resident memory `pid` ever had (the kernel's high-water mark)."""
    return _status_kib(pid, "VmHWM")


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


def reset_peak_rss(pid: int) -> None:
    """Start the high-water mark afresh from the current RSS (Linux 4.0 and later)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def open_sockets(pid: int) -> int:
    """How many sockets `pid` holds open (listening, clients, Redis, Clever)."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                count += 1
    return count


@dataclass(frozen=True, slots=True)
class Answer:
    status: int | None  # None: closed without an answer
    head: str
    body: bytes


async def _read_answer(reader: asyncio.StreamReader, seconds: float) -> Answer:
    try:
        raw = await asyncio.wait_for(reader.read(), seconds)
    except (ConnectionError, TimeoutError):
        return Answer(None, "", b"")
    head, _, body = raw.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 "):
        return Answer(None, head.decode(errors="replace"), body)
    return Answer(int(head.split(b" ", 2)[1]), head.decode(errors="replace"), body)


async def send_endless(
    host: str, port: int, start: bytes, filler: bytes, total: int, *, wait: float = 10.0
) -> Answer:
    """Send `start`, then `filler` until `total` bytes are out, never ending the head; the
    answer the server gave (read until it closed, at most `wait` seconds after sending)."""
    reader, writer = await asyncio.open_connection(host, port)
    sent = 0
    try:
        writer.write(start)
        sent += len(start)
        block = filler * max(1, CHUNK // len(filler))
        while sent < total:
            writer.write(block)
            sent += len(block)
            await writer.drain()
    except ConnectionError:
        pass  # the server answered and closed while we were still sending
    answer = await _read_answer(reader, wait)
    writer.close()
    return answer


@contextlib.asynccontextmanager
async def silent_connections(host: str, port: int, count: int) -> AsyncIterator[list[asyncio.StreamReader]]:
    """`count` connections that send nothing, open for the block; their readers."""
    opened = [await asyncio.open_connection(host, port) for _ in range(count)]
    try:
        yield [reader for reader, _ in opened]
    finally:
        for _, writer in opened:
            writer.close()


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> float | None:
    """Seconds until the server closed this connection, or None if it was still open after
    `seconds`."""
    started = time.monotonic()
    try:
        while await asyncio.wait_for(reader.read(CHUNK), seconds - (time.monotonic() - started)):
            pass
    except TimeoutError:
        return None
    except ConnectionError:
        pass
    return time.monotonic() - started


async def trickle_head(host: str, port: int, every: float, lines: int) -> float | None:
    """A head sent one header line every `every` seconds, `lines` of them, never finished;
    seconds until the server closed the connection, or None if it outlasted them all."""
    reader, writer = await asyncio.open_connection(host, port)
    started = time.monotonic()
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        for line in range(lines):
            if await closed_within(reader, every) is not None:
                return time.monotonic() - started
            writer.write(b"X-Slow-%d: y\r\n" % line)
            await writer.drain()
    except ConnectionError:
        return time.monotonic() - started
    finally:
        writer.close()
    return None
