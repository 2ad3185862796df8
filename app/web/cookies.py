"""The two cookies the backend sets, and their attributes.

Both are HttpOnly, `Path=/`, with no `Domain`, and `Secure` with the `__Host-` prefix unless
COOKIE_SECURE is false (plain-http local use). Neither has a Max-Age: both end with the browser,
which suits shared classroom devices; the server enforces the session's idle and absolute limits
and the pending logins' TTL. A pending-login cookie that outlived the browser would let the next
person reopen the last login's callback from history and land on that person's session.
SameSite=Lax, because the way back from Clever is a cross-site top-level navigation.

`suffix` (COOKIE_NAME_SUFFIX) is appended to both names: the dev stack picks a random one at
each start, so that another app on 127.0.0.1 (cookies ignore ports) cannot blindly plant a
pending-login cookie the backend would read (SECURITY.md, "The development stack").
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection
from starlette.responses import Response


@dataclass(frozen=True, slots=True)
class Cookies:
    secure: bool
    suffix: str = ""

    @property
    def session_name(self) -> str:
        return self._named("clever_session")

    @property
    def login_name(self) -> str:
        return self._named("clever_login")

    def _named(self, base: str) -> str:
        name = f"{base}_{self.suffix}" if self.suffix else base
        return f"__Host-{name}" if self.secure else name

    def session_token(self, connection: HTTPConnection) -> str | None:
        """The session ticket: the cookie, or `Authorization: Bearer` for non-browser clients."""
        scheme, _, value = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return connection.cookies.get(self.session_name)

    def every_session_token(self, connection: HTTPConnection) -> list[str]:
        """Both places a ticket may come from, each once: the bearer token and the session cookie.

        Logout ends every session it was shown: it clears the cookie, so a session left behind
        that cookie would be one the browser can no longer end.
        """
        tokens = [self.session_token(connection), connection.cookies.get(self.session_name)]
        return list(dict.fromkeys(token for token in tokens if token))

    def set_session(self, response: Response, value: str) -> None:
        response.set_cookie(
            self.session_name, value, path="/", secure=self.secure, httponly=True, samesite="lax"
        )

    def clear_session(self, response: Response) -> None:
        response.delete_cookie(self.session_name, path="/", secure=self.secure, httponly=True, samesite="lax")

    def set_login(self, response: Response, value: str) -> None:
        response.set_cookie(
            self.login_name, value, path="/", secure=self.secure, httponly=True, samesite="lax"
        )
