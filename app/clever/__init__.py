"""Talking to Clever: pooled HTTP per host, typed payloads, bounded retries, a circuit breaker per
host, the rate budget of district tokens (logins first, `in_background` for the rest), one error
tree."""

from __future__ import annotations

from app.clever.breaker import BreakerPolicy
from app.clever.budget import BudgetPolicy, RateBudget
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
from app.clever.http import CleverHTTP
from app.clever.observer import CleverObserver
from app.clever.priority import Priority, in_background
from app.clever.retry import RetryPolicy

__all__ = [
    "BreakerPolicy",
    "BudgetPolicy",
    "CleverClient",
    "CleverCredentials",
    "CleverError",
    "CleverHTTP",
    "CleverInvalidGrant",
    "CleverMalformed",
    "CleverNotFound",
    "CleverObserver",
    "CleverRateLimited",
    "CleverRejected",
    "CleverUnauthorized",
    "CleverUnavailable",
    "Priority",
    "RateBudget",
    "RetryPolicy",
    "in_background",
]
