"""The backend's pure ASGI middleware (no `BaseHTTPMiddleware`: style rule 8)."""

from __future__ import annotations

from app.middleware.cors_csrf import CorsAndCsrf
from app.middleware.request_metrics import RequestMetrics
from app.middleware.security_headers import SecurityHeaders

__all__ = ["CorsAndCsrf", "RequestMetrics", "SecurityHeaders"]
