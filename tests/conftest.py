from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import httpx
import pytest
from redis.asyncio import Redis

from app.dev.localredis import local_redis
from clever_sandbox import create_sandbox_app
from clever_sandbox.config import SandboxConfig
from clever_sandbox.state import Sandbox
from tests.security.telemetry import LogCapture, SecretBook, report
from tests.support.backend import SERVICE_SECRET, SESSION_SECRET, backend_on
from tests.support.redis_servers import RedisClusterGroup, redis_cluster
from tests.support.servers import serve_in_thread

TEST_REDIRECT_URI = "http://127.0.0.1:8000/auth/callback"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The machine's Redis, or one the test run starts itself (see app.dev.localredis)."""
    with local_redis() as url:
        yield url


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def key_prefix(redis: Redis) -> AsyncIterator[str]:
    """A key prefix no other test uses; its keys are deleted afterwards."""
    prefix = f"test:{uuid.uuid4().hex}:"
    yield prefix
    async for key in redis.scan_iter(match=f"{prefix}*"):
        await redis.delete(key)


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterGroup]:
    """A Redis Cluster of our own, for the module that asks for it."""
    with redis_cluster() as group:
        yield group


@dataclass(frozen=True)
class RunningSandbox:
    url: str
    sandbox: Sandbox

    @property
    def config(self) -> SandboxConfig:
        return self.sandbox.config


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[RunningSandbox]:
    """One sandbox on a real loopback port for the whole run (see the `sandbox` fixture)."""
    with running_sandbox(SandboxConfig(redirect_uris=(TEST_REDIRECT_URI,))) as running:
        yield running
    remember_sandbox_secrets(running.sandbox)


@contextmanager
def running_sandbox(config: SandboxConfig) -> Iterator[RunningSandbox]:
    """A sandbox built from `config` on a real loopback port, until the block ends."""
    app = create_sandbox_app(config)
    with serve_in_thread(app) as url:
        yield RunningSandbox(url=url, sandbox=app.state.sandbox)


@pytest.fixture
async def sandbox(sandbox_server: RunningSandbox) -> AsyncIterator[RunningSandbox]:
    """The shared sandbox, put back to its seeded district (and no faults) after each test."""
    yield sandbox_server
    remember_sandbox_secrets(sandbox_server.sandbox)  # before the reset forgets who the test added
    async with httpx.AsyncClient(base_url=sandbox_server.url) as client:
        response = await client.post("/sandbox/reset")
        response.raise_for_status()


BackendFactory = Callable[..., AbstractContextManager[str]]


@pytest.fixture
def make_backend(sandbox: RunningSandbox, redis_url: str, key_prefix: str) -> BackendFactory:
    """Start a login backend on a loopback port, as the sandbox's app, with extra settings."""

    def start(**extra: str) -> AbstractContextManager[str]:
        return backend_on(sandbox, redis_url=redis_url, key_prefix=key_prefix, extra=extra)

    return start


@pytest.fixture
def backend(make_backend: BackendFactory) -> Iterator[str]:
    """A login backend with the default test settings; yields its base URL."""
    with make_backend() as url:
        yield url


# -- No secrets or personal data in telemetry (SECURITY.md, requirement 38) ------------------------
# Every log record the service creates during the run is kept (from `pytest_configure` on), and so
# is every secret or personal value the run produces; at the end of the session the one is checked
# against the other, and a leak fails the run. tests/security/test_telemetry.py proves the check on
# its own login, in whatever order it runs.

TELEMETRY = LogCapture()
SECRETS = SecretBook()
_ROOT_LEVEL: list[int] = []


def remember_sandbox_secrets(sandbox: Sandbox, book: SecretBook = SECRETS) -> None:
    """The sandbox's people and every code and token it issued: none may appear in our logs."""
    book.add_people(sandbox.store.all("users"))
    book.add("access token or district-app token", *sandbox.tokens.issued_tokens())
    book.add("authorization code", *sandbox.tokens.issued_codes())
    book.add("client secret", sandbox.config.client_secret)


def remember_configured_secrets(book: SecretBook = SECRETS) -> None:
    book.add("configured secret", SESSION_SECRET, SERVICE_SECRET)


def pytest_configure(config: pytest.Config) -> None:
    """Keeps every log record of the run, from DEBUG up, whichever logger and handler."""
    remember_configured_secrets()
    root = logging.getLogger()
    _ROOT_LEVEL.append(root.level)
    root.setLevel(logging.DEBUG)
    TELEMETRY.install()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Everything the run logged, against everything it produced (the sandbox's secrets are
    remembered as each test and the session's sandbox end)."""
    leaks = TELEMETRY.leaks(SECRETS)
    if not leaks:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_sep("=", "telemetry check (SECURITY.md, requirement 38)", red=True)
        reporter.write_line(report(leaks))
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config: pytest.Config) -> None:
    TELEMETRY.uninstall()
    if _ROOT_LEVEL:
        logging.getLogger().setLevel(_ROOT_LEVEL.pop())
