"""The login backend's app factory: `create_app(settings)`; uvicorn runs it with `--factory`
through `clever-login serve`. Nothing here does I/O until the lifespan starts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from app.clever.http import origin_of
from app.core import open_core
from app.login.identity import OidcKeys
from app.login.pending import PendingLogins
from app.logs import EventLimiter
from app.settings import Settings
from app.web.cookies import Cookies
from app.web.health import Readiness, health_routes
from app.web.metrics import CleverMetrics, Metrics
from app.web.middleware.cors_csrf import CorsAndCsrf
from app.web.middleware.limits import RequestLimits
from app.web.middleware.request_id import RequestId
from app.web.middleware.request_metrics import RequestMetrics
from app.web.middleware.security_headers import SecurityHeaders
from app.web.openapi import openapi_document
from app.web.problems import HANDLED, answer_error
from app.web.routes.districts import district_routes
from app.web.routes.login import login_routes
from app.web.routes.sessions import session_routes
from app.web.services import Services
from app.web.throttle import ServiceAuthThrottle


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
                cookies=Cookies(secure=settings.cookie_secure, suffix=settings.cookie_name_suffix),
                redis=core.redis,
                clever=core.clever,
                oidc=OidcKeys(core.clever, issuer=settings.clever_oauth_url),
                sessions=core.sessions,
                pending=PendingLogins(
                    core.redis,
                    core.keyring,
                    prefix=settings.redis_key_prefix,
                    per_browser=settings.pending_logins_per_browser,
                    total=settings.pending_logins_max,
                ),
                event_log=EventLimiter(),
                district_tokens=core.district_tokens,
                roster=core.roster,
                directory=core.directory,
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
        *district_routes(),
        *health_routes(readiness, metrics),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    app = _LoginApp(
        settings=settings,
        metrics=metrics,
        routes=routes,
        lifespan=lifespan,
        exception_handlers=dict.fromkeys(HANDLED, answer_error),
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
