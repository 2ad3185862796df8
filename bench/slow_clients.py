"""Oversized heads, slow heads and idle sockets against a real `clever-login serve`, at the sizes
of the original report; prints what each cost the server.

    python -m bench.slow_clients [--root DIR] [--trickle-seconds 65] [-- SERVE_ARGS...]

`--root` runs the server from another checkout (to measure the code before a change). The
server runs with `--limit-concurrency 50` and a soft limit of 256 open files, as in the report,
and needs Redis on 127.0.0.1:6379. The attacks (loopback only, bounded in size and time):

- 4 connections at once, each sending 64 MiB of header lines without ending the head;
- one request target of 128 MiB;
- 20 connections sending one header line every 5 s;
- 1,000 connections that send nothing, then one real request.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import httpx

from bench.processes import ROOT, Process, free_port
from clever_sandbox.config import SandboxConfig
from tests.support import slow_clients
from tests.support.backend import backend_environ
from tests.support.processes import cli_command

MIB = 1024 * 1024
SOFT_OPEN_FILES = 256


def _mb(kib: int) -> str:
    return f"{kib / 1024:.1f} MB"


async def _heads(pid: int, port: int) -> None:
    host = "127.0.0.1"
    before = slow_clients.rss_kib(pid)
    slow_clients.reset_peak_rss(pid)
    started = time.monotonic()
    answers = await asyncio.gather(
        *(
            slow_clients.send_endless(
                host,
                port,
                b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
                b"X-Pad: " + b"a" * 1000 + b"\r\n",
                64 * MIB,
            )
            for _ in range(4)
        )
    )
    print(
        f"4 x 64 MiB unfinished header lines: RSS {_mb(before)} "
        f"-> peak {_mb(slow_clients.peak_rss_kib(pid))} "
        f"(+{_mb(slow_clients.peak_rss_kib(pid) - before)}), answers {[a.status for a in answers]}, "
        f"{time.monotonic() - started:.1f} s"
    )
    before = slow_clients.rss_kib(pid)
    slow_clients.reset_peak_rss(pid)
    answer = await slow_clients.send_endless(host, port, b"GET /?q=", b"a", 128 * MIB)
    print(
        f"128 MiB request target: RSS {_mb(before)} -> peak {_mb(slow_clients.peak_rss_kib(pid))} "
        f"(+{_mb(slow_clients.peak_rss_kib(pid) - before)}), answer {answer.status}"
    )


async def _slow(pid: int, port: int, trickle_seconds: float) -> None:
    host = "127.0.0.1"
    baseline = slow_clients.open_sockets(pid)
    every = 5.0
    closed = await asyncio.gather(
        *(slow_clients.trickle_head(host, port, every, int(trickle_seconds / every)) for _ in range(20))
    )
    shown = sorted(round(c, 1) for c in closed if c is not None)
    print(
        f"20 connections, a header line every {every:g} s for {trickle_seconds:g} s: "
        f"{closed.count(None)} outlasted it; closed after {shown} s"
    )
    async with slow_clients.silent_connections(host, port, 1000) as readers:
        await asyncio.sleep(0.5)
        held = slow_clients.open_sockets(pid) - baseline
        async with httpx.AsyncClient(timeout=5) as client:
            try:
                status: object = (await client.get(f"http://{host}:{port}/healthz")).status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
        closes = await asyncio.gather(*(slow_clients.closed_within(reader, 15) for reader in readers))
    still = closes.count(None)
    shown_close = sorted({round(c) for c in closes if c is not None})
    print(
        f"1,000 silent connections: server held {held} more sockets, a real request answered "
        f"{status}; {still} still open after 15 s, the others closed after {shown_close} s; "
        f"server sockets now {slow_clients.open_sockets(pid) - baseline:+d} from before"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--trickle-seconds", type=float, default=65.0)
    parser.add_argument("serve_args", nargs="*")
    args = parser.parse_args()

    port = free_port()
    sandbox_port = free_port()
    config = SandboxConfig()
    env = backend_environ(
        f"http://127.0.0.1:{sandbox_port}",
        config,
        redis_url="redis://127.0.0.1:6379",
        key_prefix=f"bench:slow:{os.getpid()}:",
    )
    logs = Path(tempfile.mkdtemp(prefix="slow-clients-"))
    sandbox = Process(
        "sandbox",
        cli_command("sandbox", "--port", str(sandbox_port)),
        cpus=None,
        log=logs / "sandbox.log",
    )
    serve = Process(
        "serve",
        cli_command(
            "serve",
            "--port",
            str(port),
            "--limit-concurrency",
            "50",
            *args.serve_args,
            open_files=SOFT_OPEN_FILES,
        ),
        cpus=None,
        env={**env, "PYTHONPATH": str(args.root)},
        cwd=args.root,
        log=logs / "serve.log",
    )
    try:
        sandbox.wait_http(f"http://127.0.0.1:{sandbox_port}/")
        serve.wait_http(f"http://127.0.0.1:{port}/healthz")
        asyncio.run(_heads(serve.pid, port))
        asyncio.run(_slow(serve.pid, port, args.trickle_seconds))
    finally:
        serve.stop()
        sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
