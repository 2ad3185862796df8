"""Backend processes (`clever-login serve`) and a small loopback load balancer in front of them.

The balancer does what a Kubernetes Service or a cloud load balancer does at the TCP level:
each new connection goes to the next backend in its rotation; a backend that refuses the
connection (nothing sent yet) is skipped; `remove` takes a backend out of the rotation, as
Kubernetes does with a terminating pod's endpoint, while its open connections carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from tests.support.processes import child_environ, free_port, start_cli, wait_until_answers

HOST = "127.0.0.1"


@dataclass
class BackendProcess:
    port: int
    proc: subprocess.Popen[str]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def terminate(self, timeout: float) -> tuple[int, str]:
        """SIGTERM; the exit status and everything it printed, once it has exited."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            output, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            output, _ = self.proc.communicate()
            raise AssertionError(f"did not stop within {timeout} s after SIGTERM:\n{output}") from None
        return self.proc.returncode, output


def launch(environ: Mapping[str, str], *extra_args: str) -> BackendProcess:
    port = free_port()
    proc = start_cli(
        "serve", "--port", str(port), "--log-level", "info", *extra_args, env=child_environ(environ)
    )
    return BackendProcess(port, proc)


@contextlib.contextmanager
def backend_processes(environ: Mapping[str, str], count: int) -> Iterator[list[BackendProcess]]:
    """`count` backends started together; each is killed on the way out if it still runs."""
    started = [launch(environ) for _ in range(count)]
    try:
        for backend in started:
            wait_until_answers(f"{backend.url}/readyz", backend.proc)
        yield started
    finally:
        for backend in started:
            stop_process(backend)


def stop_process(backend: BackendProcess) -> None:
    """Kill `backend` if it still runs, and reap it (after `terminate`, nothing is left to do)."""
    if backend.proc.poll() is None:
        backend.proc.kill()
    if backend.proc.stdout is not None and not backend.proc.stdout.closed:
        backend.proc.communicate()


class RoundRobin:
    """A TCP load balancer on a free loopback port; `url` is where clients connect."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = list(ports)
        self.active: Counter[int] = Counter()  # open connections per backend port
        self.served: Counter[int] = Counter()
        self._next = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://{HOST}:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> RoundRobin:
        self._server = await asyncio.start_server(self._accept, HOST, 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        # Close every relayed connection, so that each relay ends by itself.
        for writer in list(self._writers):
            writer.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def add(self, port: int) -> None:
        self.ports.append(port)

    def remove(self, port: int) -> None:
        self.ports.remove(port)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._relay(client_reader, client_writer)
        finally:
            self._tasks.discard(task)

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream = None
        for _ in range(2 * max(1, len(self.ports))):
            if not self.ports:
                break
            port = self.ports[self._next % len(self.ports)]
            self._next += 1
            with contextlib.suppress(ConnectionRefusedError):
                upstream = (port, *await asyncio.open_connection(HOST, port))
                break
        if upstream is None:
            client_writer.close()
            return
        port, reader, writer = upstream
        self.active[port] += 1
        self.served[port] += 1
        self._writers.update((writer, client_writer))
        try:
            await asyncio.gather(_pipe(client_reader, writer), _pipe(reader, client_writer))
        finally:
            self.active[port] -= 1
            for stream in (writer, client_writer):
                stream.close()
                self._writers.discard(stream)
            for stream in (writer, client_writer):
                with contextlib.suppress(ConnectionError):
                    await stream.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
        if not writer.is_closing() and writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, RuntimeError):  # the other side closed, or we are shutting down
        writer.close()
