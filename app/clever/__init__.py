"""Talking to Clever: pooled HTTP per host, typed payloads, bounded retries, one error tree."""

from __future__ import annotations

from app.clever.client import CleverClient, CleverCredentials
from app.clever.errors import (
    CleverError,
    CleverInvalidGrant,
    CleverMalformed,
    CleverNotFound,
    CleverRateLimited,
    CleverRejected,
    CleverUnauthorized,
    CleverUnavailable,
)
from app.clever.http import create_http_client
from app.clever.retry import RetryPolicy

__all__ = [
    "CleverClient",
    "CleverCredentials",
    "CleverError",
    "CleverInvalidGrant",
    "CleverMalformed",
    "CleverNotFound",
    "CleverRateLimited",
    "CleverRejected",
    "CleverUnauthorized",
    "CleverUnavailable",
    "RetryPolicy",
    "create_http_client",
]
