"""A gateway per test: nginx running the shipped snippet in front of an app that echoes what it
is told, with a login backend behind `/auth/` and `auth_request`."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app.web.factory import create_app
from tests.conftest import BackendFactory, RunningSandbox
from tests.gateway.nginx import find_nginx, render_snippet, running_nginx, unusable_reason
from tests.support.backend import backend_settings
from tests.support.processes import free_port
from tests.support.servers import serve_in_thread


class EchoApp:
    """The protected app: answers every request with the `X-Clever-*` headers it received."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        self.asgi = Starlette(routes=[Route("/{path:path}", self._echo, methods=methods)])

    async def _echo(self, request: Request) -> Response:
        told = [
            [name, value]
            for name, value in request.headers.items()
            if name.replace("_", "-").startswith("x-clever-")
        ]
        answer = {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "body": (await request.body()).decode(),
            "clever": told,
        }
        self.seen.append(answer)
        return JSONResponse(answer)


class ConnectionCounter:
    """Pure ASGI wrapper that notes each request's client (address, port): one per TCP connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.clients: set[tuple[str, int]] = set()
        self.requests = 0

    def reset(self) -> None:
        self.clients.clear()
        self.requests = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("client"):
            host, port = scope["client"]
            self.clients.add((host, port))
            self.requests += 1
        await self.app(scope, receive, send)


@dataclass(frozen=True)
class Gateway:
    url: str
    backend_url: str
    app: EchoApp


GatewayFactory = Callable[..., AbstractContextManager[Gateway]]


@pytest.fixture(scope="session")
def nginx_binary() -> str:
    binary = find_nginx()
    reason = unusable_reason(binary)
    if binary is None or reason is not None:
        pytest.skip(reason or "no nginx")
    return binary


def _port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


def _host_port(url: str) -> str:
    return url.removeprefix("http://").rstrip("/")


@pytest.fixture
def make_gateway(nginx_binary: str, make_backend: BackendFactory, tmp_path: Path) -> GatewayFactory:
    """Start a gateway. Its port is chosen first: the backend must know the origin it serves.

    `backend` starts the login backend (default: `make_backend`) with FRONTEND_URL and
    ALLOWED_RETURN_TO on the gateway's origin plus `settings`; `backend_keepalive=False` runs the
    snippet without its connection pool towards the backend.
    """

    @contextlib.contextmanager
    def start(
        *, backend: BackendFactory | None = None, backend_keepalive: bool = True, **settings: str
    ) -> Iterator[Gateway]:
        start_backend = backend or make_backend
        app = EchoApp()
        with contextlib.ExitStack() as stack:
            # The port is free when chosen, but the backend or the app (started after, on any free
            # port) may be given it: then choose again.
            for _ in range(5):
                port = free_port()
                origin = f"http://127.0.0.1:{port}"
                started = stack.enter_context(contextlib.ExitStack())
                backend_url = started.enter_context(
                    start_backend(FRONTEND_URL=f"{origin}/", ALLOWED_RETURN_TO=origin, **settings)
                )
                app_url = started.enter_context(serve_in_thread(app.asgi))
                if port not in {_port_of(backend_url), _port_of(app_url)}:
                    break
                started.close()
            else:
                raise AssertionError("no free port for the gateway")
            snippet = render_snippet(
                listen_port=port,
                backend=_host_port(backend_url),
                app=_host_port(app_url),
                backend_keepalive=backend_keepalive,
            )
            with running_nginx(nginx_binary, tmp_path / f"nginx-{port}", snippet, port) as url:
                yield Gateway(url=url, backend_url=backend_url, app=app)

    return start


@pytest.fixture
def gateway(make_gateway: GatewayFactory) -> Iterator[Gateway]:
    with make_gateway() as running:
        yield running


class CountingBackends:
    """Starts login backends (as `make_backend` does) whose connections a ConnectionCounter sees."""

    def __init__(self, sandbox: RunningSandbox, redis_url: str, key_prefix: str) -> None:
        self.sandbox = sandbox
        self.redis_url = redis_url
        self.key_prefix = key_prefix
        self.counter: ConnectionCounter | None = None

    @contextlib.contextmanager
    def __call__(self, **extra: str) -> Iterator[str]:
        settings = backend_settings(
            self.sandbox.url,
            self.sandbox.config,
            redis_url=self.redis_url,
            key_prefix=self.key_prefix,
            extra=extra,
        )
        self.counter = ConnectionCounter(create_app(settings))
        with serve_in_thread(self.counter) as url:
            yield url


@pytest.fixture
def counting_backends(sandbox: RunningSandbox, redis_url: str, key_prefix: str) -> CountingBackends:
    return CountingBackends(sandbox, redis_url, key_prefix)
