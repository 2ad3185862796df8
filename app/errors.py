"""The base of every error the service answers with a stable code.

Each domain error names its code, as authlib's errors carry `error`: the login flow's, the
roster's and the Clever client's errors subclass `ServiceError` where they are defined, and one
handler (`app.web.problems.answer_error`) turns any of them into the answer through the one
table of codes, `app.web.problems.PROBLEMS`. This module imports nothing of the service, so the
lowest layers (`app.clever` included) can raise such errors without reaching up to the web.
"""

from __future__ import annotations


class ServiceError(Exception):
    """An error answered with `code`, one of the stable codes of `app.web.problems.PROBLEMS`.

    Subclasses name their code as a class attribute, or set it per instance; `answer_headers`
    gives any header the answer carries (a `Retry-After`, a `WWW-Authenticate` challenge).
    """

    code: str = "internal_error"

    def answer_headers(self) -> dict[str, str]:
        return {}
