"""Build and run the login backend for a test: settings pointing at the test sandbox and Redis."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Protocol

from app.serving.http_protocol import protocol_factory
from app.serving.server import REQUEST_TIMEOUT_SECONDS
from app.settings import Settings, load_settings
from app.web.factory import create_app
from clever_sandbox.config import SandboxConfig
from tests.support.openapi_check import OpenAPIConformance
from tests.support.servers import serve_in_thread

FRONTEND_URL = "http://127.0.0.1:5173/home"
SESSION_SECRET = "q8Zr1vLk0pXw3nT6yH9bS2dF5gJ7mC4a-test"
SERVICE_NAME = "reports"
SERVICE_SECRET = "reports-secret-0123456789abcdef"


def backend_settings(
    sandbox_url: str,
    config: SandboxConfig,
    *,
    redis_url: str,
    key_prefix: str,
    extra: Mapping[str, str] | None = None,
) -> Settings:
    """Settings for a backend that is the sandbox's registered app (its first redirect URI)."""
    return load_settings(
        backend_environ(sandbox_url, config, redis_url=redis_url, key_prefix=key_prefix, extra=extra)
    )


def backend_environ(
    sandbox_url: str,
    config: SandboxConfig,
    *,
    redis_url: str,
    key_prefix: str,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment variables of such a backend, for a `clever-login serve` process."""
    return {
        "CLEVER_CLIENT_ID": config.client_id,
        "CLEVER_CLIENT_SECRET": config.client_secret,
        "CLEVER_REDIRECT_URI": config.redirect_uris[0],
        "CLEVER_OAUTH_URL": sandbox_url,
        "CLEVER_API_URL": sandbox_url,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": key_prefix,
        "SESSION_SECRET": SESSION_SECRET,
        "FRONTEND_URL": FRONTEND_URL,
        "COOKIE_SECURE": "false",
        "SERVICE_CLIENTS": f"{SERVICE_NAME}:{SERVICE_SECRET}",
        **(extra or {}),
    }


@contextlib.contextmanager
def running_backend(settings: Settings) -> Iterator[str]:
    """The backend on a loopback port, behind the HTTP protocol `serve` uses; on exit, fails if
    any answer strayed from /openapi.json."""
    checked = OpenAPIConformance(create_app(settings))
    with serve_in_thread(checked, http=protocol_factory(REQUEST_TIMEOUT_SECONDS)) as url:
        yield url
    assert not checked.violations, "answers not as /openapi.json says:\n" + "\n".join(checked.violations)


class SandboxAt(Protocol):
    """A running sandbox: where it answers, and the app it has registered."""

    @property
    def url(self) -> str: ...

    @property
    def config(self) -> SandboxConfig: ...


def backend_on(
    sandbox: SandboxAt, *, redis_url: str, key_prefix: str, extra: Mapping[str, str] | None = None
) -> AbstractContextManager[str]:
    """`running_backend` for the sandbox's app on this Redis; yields its base URL."""
    return running_backend(
        backend_settings(sandbox.url, sandbox.config, redis_url=redis_url, key_prefix=key_prefix, extra=extra)
    )
