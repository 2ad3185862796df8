"""The backend's pure ASGI middleware (no `BaseHTTPMiddleware`: each layer of it costs
throughput on the hot path)."""

from __future__ import annotations

from app.web.middleware.cors_csrf import CorsAndCsrf
from app.web.middleware.request_metrics import RequestMetrics
from app.web.middleware.security_headers import SecurityHeaders

__all__ = ["CorsAndCsrf", "RequestMetrics", "SecurityHeaders"]
