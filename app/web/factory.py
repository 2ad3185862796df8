"""The login backend's app factory: `create_app(settings)`; uvicorn runs it with `--factory`
through `clever-login serve`. Nothing here does I/O until the lifespan starts."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from redis.exceptions import RedisClusterException, RedisError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from app.clever.errors import (
    CleverError,
    CleverInvalidGrant,
    CleverRateLimited,
    CleverUnavailable,
)
from app.login.identity import IdentityError, OidcKeys
from app.login.pending import PendingLogins
from app.roster.district_tokens import DistrictNotConnected
from app.settings import Settings, origin_of
from app.web.cookies import Cookies
from app.web.health import Readiness, health_routes
from app.web.metrics import CleverMetrics, Metrics
from app.web.middleware.cors_csrf import CorsAndCsrf
from app.web.middleware.limits import RequestLimits
from app.web.middleware.request_id import RequestId
from app.web.middleware.request_metrics import RequestMetrics
from app.web.middleware.security_headers import SecurityHeaders
from app.web.openapi import openapi_document
from app.web.problems import AppError, json_problem, page_problem, wants_json
from app.web.routes.login import login_routes
from app.web.routes.sessions import session_routes
from app.web.services import Services, open_core
from app.web.throttle import ServiceAuthThrottle

logger = logging.getLogger("app")

BROWSER_PATHS = frozenset({"/auth/login", "/auth/callback"})
# Seconds one request to Clever may take, body included (a slow drip is cut off here).
# Bounds of the Retry-After we answer when Clever is unavailable or its budget is spent.
RETRY_AFTER_DEFAULT = 5
RETRY_AFTER_MAX = 60


def create_app(settings: Settings) -> Starlette:
    if settings.redis_url is None:
        raise ValueError("REDIS_URL is required to serve")
    metrics = Metrics()
    # The client exists only once the lifespan has run; readiness asks for it when it checks.
    readiness = Readiness(lambda: app.state.services.redis)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_core(settings, observer=CleverMetrics(metrics)) as core:
            services = Services(
                settings=settings,
                keyring=core.keyring,
                cookies=Cookies(secure=settings.cookie_secure, suffix=settings.cookie_name_suffix),
                redis=core.redis,
                clever=core.clever,
                oidc=OidcKeys(core.clever, issuer=settings.clever_oauth_url),
                sessions=core.sessions,
                pending=PendingLogins(core.redis, core.keyring, prefix=settings.redis_key_prefix),
                district_tokens=core.district_tokens,
                metrics=metrics,
                service_auth=ServiceAuthThrottle(
                    core.redis,
                    [client.name for client in settings.service_clients],
                    prefix=settings.redis_key_prefix,
                ),
            )
            app.state.services = services
            prefetch = asyncio.create_task(services.oidc.prefetch())  # spares the first login two round trips
            # SIGTERM turns readiness to 503 at once, while open requests still finish.
            restore_signals = readiness.drain_on_signals()
            try:
                yield
            finally:
                readiness.mark_draining()
                restore_signals()
                prefetch.cancel()

    async def openapi(request: Request) -> Response:
        return Response(openapi_document(), media_type="application/json")

    routes = [
        *login_routes(),
        *session_routes(),
        *health_routes(readiness, metrics),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    app = _LoginApp(
        settings=settings,
        metrics=metrics,
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            AppError: _app_error,
            CleverError: _clever_error,
            IdentityError: _identity_error,
            DistrictNotConnected: _district_not_connected,
            RedisError: _store_error,
            RedisClusterException: _store_error,  # no reachable node: not a RedisError
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )
    app.state.settings = settings
    app.state.readiness = readiness
    return app


class _LoginApp(Starlette):
    """Starlette, with our middleware outside its whole stack.

    Starlette answers an unhandled error from its outermost layer, outside `middleware=[...]`;
    wrapping the whole stack puts the security headers and metrics on those answers too.
    """

    def __init__(self, *, settings: Settings, metrics: Metrics, **kwargs: Any) -> None:
        self._settings = settings
        self._metrics = metrics
        super().__init__(**kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        inner = CorsAndCsrf(
            super().build_middleware_stack(),
            own_origin=origin_of(self._settings.clever_redirect_uri),
            cors_origins=self._settings.cors_origins,
        )
        # The request id outermost: every log line of the request, and every answer, carries it.
        return RequestId(
            RequestMetrics(
                SecurityHeaders(RequestLimits(inner), hsts=self._settings.cookie_secure), self._metrics
            )
        )


def problem(request: Request, code: str, headers: dict[str, str] | None = None) -> Response:
    """One place that turns a stable error code into the answer, page or JSON."""
    if request.url.path == "/auth/callback":
        request.app.state.services.metrics.login(code, getattr(request.state, "login_method", None))
    if request.url.path in BROWSER_PATHS and not wants_json(request):
        settings: Settings = request.app.state.settings
        return page_problem(
            code, login_url="/auth/login", frontend_url=settings.frontend_url, headers=headers
        )
    return json_problem(code, headers)


async def _app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return problem(request, exc.code, exc.headers)


async def _clever_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CleverError)
    if isinstance(exc, CleverInvalidGrant):
        code = "login_expired"  # the code was used or too old: only a new login helps
    elif isinstance(exc, CleverUnavailable | CleverRateLimited):
        code = "clever_unavailable"
    else:  # CleverMalformed, CleverRejected: Clever answered, but not usefully
        code = "clever_error"
    logger.warning(
        "Clever call failed",
        extra={
            "event": "clever_error",
            "error": type(exc).__name__,
            "operation": exc.operation,
            "detail": exc.detail,
            "status": exc.status,
            "attempts": exc.attempts,
        },
    )
    headers = {"Retry-After": str(_retry_after(exc))} if code == "clever_unavailable" else None
    return problem(request, code, headers)


def _retry_after(exc: CleverError) -> int:
    """Whole seconds until trying again may help: an open circuit's next probe, or when the rate
    window reopens; else a short default."""
    seconds: float | None = None
    if isinstance(exc, CleverUnavailable):
        seconds = exc.retry_after
    elif isinstance(exc, CleverRateLimited) and exc.reset_at is not None:
        seconds = exc.reset_at - time.time()
    if seconds is None:
        return RETRY_AFTER_DEFAULT
    return max(1, min(RETRY_AFTER_MAX, math.ceil(seconds)))


async def _identity_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IdentityError)
    return problem(request, exc.code)


async def _district_not_connected(request: Request, exc: Exception) -> Response:
    return problem(request, "district_not_connected")


async def _store_error(request: Request, exc: Exception) -> Response:
    # Fail closed: no session can be checked or written without Redis.
    request.app.state.services.metrics.redis_error(exc)
    logger.warning("Redis failed", extra={"event": "store_error", "error": type(exc).__name__})
    return problem(request, "store_unavailable", {"Retry-After": "2"})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
    return problem(request, code, dict(exc.headers or {}))


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.error("unexpected error", extra={"event": "internal_error", "error": type(exc).__name__})
    return problem(request, "internal_error")
