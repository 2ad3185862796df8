"""What the Clever client reports about its calls, for whoever keeps metrics (it knows none)."""

from __future__ import annotations

from typing import Protocol

from app.clever.budget import Headroom

# Outcomes of one attempt: `ok`, or how it failed. The last two never reached Clever.
OUTCOMES = (
    "ok",
    "unavailable",
    "rate_limited",
    "rejected",
    "malformed",
    "cancelled",
    "circuit_open",
    "budget_spent",
)


class CleverObserver(Protocol):
    """Told about every attempt the client makes, and what Clever said of a tracked budget.

    Called on the event loop, inline: implementations must be quick and must not raise.
    """

    def attempt(self, operation: str, outcome: str, status: int | None, seconds: float) -> None:
        """One request (or one refused before it was sent): `operation` as in the errors,
        `outcome` one of OUTCOMES, `status` Clever's HTTP status when it answered."""

    def headroom(self, headroom: Headroom) -> None:
        """Calls left in a tracked token's window, after an answer on it."""
