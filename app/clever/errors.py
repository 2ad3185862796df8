"""What can go wrong when talking to Clever, as one small tree.

    CleverError                    anything from this package
    ├── CleverUnavailable          no usable answer: connect error, timeout, 5xx (after retries, for GETs),
    │                              or the host's circuit is open (nothing sent; `retry_after` set)
    ├── CleverRateLimited          429 after bounded retries, or the token's rate budget is spent
    │                              (nothing sent); `reset_at` is when Clever's window reopens
    ├── CleverRejected             a 4xx (or 501) Clever meant: `status`, `error_code`, `clever_message`
    │   ├── CleverUnauthorized     401: the token is wrong, expired or revoked
    │   ├── CleverNotFound         404: not there, not shared with us, or the wrong kind of token
    │   └── CleverInvalidGrant     400 `invalid_grant`: the code is expired, reused or not ours
    └── CleverMalformed            an answer we will not parse: not JSON (Clever answers some token
                                   mix-ups with HTML), invalid JSON, over the size cap, or a payload
                                   that does not match its model

Every error names the `operation` (e.g. "user_sections"), never a URL, token, code or personal
data: messages are safe to log. `clever_message` is Clever's own wording, kept apart from the
message for that reason. Foreign exceptions (aiohttp, pydantic) are translated where they
enter, with `raise ... from exc`; pydantic errors are built with their inputs hidden.

Each names the stable code the service answers it with (`app.errors`): `clever_unavailable`
(with a `Retry-After`) for an outage or a spent budget, `login_expired` for an invalid grant,
`clever_error` for the rest.
"""

from __future__ import annotations

import math
import time

from app.errors import ServiceError

# Bounds of the Retry-After answered when Clever is unavailable or its budget is spent.
RETRY_AFTER_DEFAULT = 5
RETRY_AFTER_MAX = 60


class CleverError(ServiceError):
    """Base of every error raised by `app.clever`."""

    # Clever answered, but not usefully (malformed, rejected): the default of the tree.
    code = "clever_error"

    def __init__(self, operation: str, detail: str, *, status: int | None = None) -> None:
        super().__init__(operation, detail, status)
        self.operation = operation
        self.detail = detail
        self.status = status
        # How many requests were made before giving up (1 when nothing was retried).
        self.attempts = 1

    def __str__(self) -> str:
        parts = [f"{self.operation}: {self.detail}"]
        if self.status is not None:
            parts.append(f"status {self.status}")
        if self.attempts > 1:
            parts.append(f"after {self.attempts} attempts")
        return ", ".join(parts)


def _retry_after(seconds: float | None) -> dict[str, str]:
    """Whole seconds until trying again may help, bounded; a short default when unknown."""
    if seconds is None:
        return {"Retry-After": str(RETRY_AFTER_DEFAULT)}
    return {"Retry-After": str(max(1, min(RETRY_AFTER_MAX, math.ceil(seconds))))}


class CleverUnavailable(CleverError):
    """Clever could not be reached or failed on its side."""

    code = "clever_unavailable"

    def __init__(
        self,
        operation: str,
        detail: str,
        *,
        status: int | None = None,
        transient: bool = True,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(operation, detail, status=status)
        # False for a 5xx that retrying will not cure (e.g. 505), or an open circuit: such an
        # error is raised at once.
        self.transient = transient
        # Seconds until trying again may help, when known (an open circuit's next probe).
        self.retry_after = retry_after

    def answer_headers(self) -> dict[str, str]:
        return _retry_after(self.retry_after)


class CleverRateLimited(CleverError):
    """Clever answered 429 and waiting for the reset was not possible within the retry policy."""

    code = "clever_unavailable"

    def __init__(self, operation: str, detail: str, *, reset_at: float | None) -> None:
        super().__init__(operation, detail, status=429)
        # Unix time at which the token's budget refills (`X-RateLimit-Reset`), when Clever said.
        self.reset_at = reset_at

    def answer_headers(self) -> dict[str, str]:
        # Counted from when the answer is made: the window reopens at a fixed time.
        return _retry_after(None if self.reset_at is None else self.reset_at - time.time())


class CleverRejected(CleverError):
    """Clever refused the request; repeating it unchanged will not help."""

    def __init__(
        self,
        operation: str,
        detail: str,
        *,
        status: int,
        error_code: str | None = None,
        clever_message: str | None = None,
    ) -> None:
        super().__init__(operation, detail, status=status)
        # OAuth endpoints' `error` (e.g. "invalid_grant"); None for the Data API's `{"message"}`.
        self.error_code = error_code
        self.clever_message = clever_message

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text}, error {self.error_code}" if self.error_code else text


class CleverUnauthorized(CleverRejected):
    """401: the bearer token (or the app's client credentials) is not accepted."""


class CleverNotFound(CleverRejected):
    """404: the object does not exist or this token may not see it."""


class CleverInvalidGrant(CleverRejected):
    """400 invalid_grant on the code exchange: start a new login, never retry with this code."""

    code = "login_expired"  # the code was used or too old: only a new login helps


class CleverMalformed(CleverError):
    """Clever's answer could not be used: wrong content type, bad JSON, too large, or off-model."""
