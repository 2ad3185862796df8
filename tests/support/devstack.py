"""`clever-login dev`'s three apps (sandbox, backend, demo partner page) on free loopback ports,
served from a thread with its own event loop, for tests that drive them from a real browser."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import uvicorn

from app.dev.stack import DevAddresses, DevApp, bind_all, build_dev_stack, dev_environ
from app.serving.server import listening_socket
from app.settings import Settings, load_settings
from app.web.factory import create_app
from clever_sandbox.state import Sandbox
from clever_sandbox.store import SandboxStore
from tests.support.openapi_check import OpenAPIConformance


@dataclass(frozen=True, slots=True)
class RunningStack:
    addresses: DevAddresses
    settings: Settings
    sandbox: Sandbox

    @property
    def store(self) -> SandboxStore:
        return self.sandbox.store

    @property
    def demo_url(self) -> str:
        return self.addresses.demo_url

    @property
    def backend_url(self) -> str:
        return self.addresses.backend_url

    @property
    def sandbox_url(self) -> str:
        return self.addresses.sandbox_url


def _free_addresses(host: str) -> DevAddresses:
    # Bound and let go at once: the window before the stack binds them again is tiny, and the
    # ports must be known before the apps are built (each app's settings name the others).
    sockets = [listening_socket(host, 0) for _ in range(3)]
    ports = [int(sock.getsockname()[1]) for sock in sockets]
    for sock in sockets:
        sock.close()
    return DevAddresses(host=host, sandbox_port=ports[0], backend_port=ports[1], demo_port=ports[2])


@contextlib.contextmanager
def running_dev_stack(
    redis_url: str,
    *,
    key_prefix: str,
    host: str = "127.0.0.1",
    backend_environ: Mapping[str, str] | None = None,
    frontend_url: str | None = None,
) -> Iterator[RunningStack]:
    """The dev stack on `host`, each app on a port (and so an origin) of its own.

    `backend_environ` overrides the backend's local-use settings (e.g. `COOKIE_SECURE`);
    `frontend_url` is `clever-login dev --frontend-url`."""
    addresses = _free_addresses(host)
    stack = build_dev_stack(
        redis_url, environ={"REDIS_KEY_PREFIX": key_prefix}, addresses=addresses, frontend_url=frontend_url
    )
    settings = stack.settings
    apps = stack.apps
    if backend_environ:
        environ = dev_environ(addresses, stack.sandbox, redis_url=redis_url, key_prefix=key_prefix)
        settings = load_settings({**environ, **backend_environ})
        apps = tuple(
            DevApp(app.name, app.port, create_app(settings)) if app.port == addresses.backend_port else app
            for app in apps
        )
    sandbox: Sandbox = apps[0].app.state.sandbox  # type: ignore[attr-defined]
    # The backend's answers to the browser are checked against /openapi.json as well.
    checked = OpenAPIConformance(next(app.app for app in apps if app.port == addresses.backend_port))
    apps = tuple(
        DevApp(app.name, app.port, checked) if app.port == addresses.backend_port else app for app in apps
    )
    sockets = bind_all(host, apps)
    servers = [
        uvicorn.Server(
            uvicorn.Config(app.app, lifespan="on", log_level="warning", access_log=False, server_header=False)
        )
        for app in apps
    ]

    async def serve() -> None:
        await asyncio.gather(
            *(server.serve(sockets=[sock]) for server, sock in zip(servers, sockets, strict=True))
        )

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        while not all(server.started for server in servers):
            if not thread.is_alive():
                raise RuntimeError("the dev stack did not start")
            threading.Event().wait(0.01)
        yield RunningStack(addresses=addresses, settings=settings, sandbox=sandbox)
    finally:
        for server in servers:
            server.should_exit = True
        thread.join(timeout=10)
        loop.close()
        for sock in sockets:
            sock.close()
    assert not checked.violations, "answers not as /openapi.json says:\n" + "\n".join(checked.violations)
