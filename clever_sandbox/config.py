from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DEFAULT_CLIENT_ID = "sandbox-client-id"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 - a public demo credential, as Clever's own
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8000/auth/callback"

RateHeaders = Literal["every", "on_429"]

# Strictness: events and OAuth
EndingBeforeLast = Literal["refused", "answered"]
PreviousAttributes = Literal["inside", "beside"]
Pkce = Literal["ignored", "enforced"]


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """How a sandbox is set up.

    `issuer` is the sandbox's public base URL (the `iss` of its id_tokens and the host in
    its discovery document); `None` takes it from each request's own scheme and host.
    `students` scales the seeded district; `seed` makes it reproducible.
    `post_logout_redirect_uris`: where `/oauth/logout` may send a browser back to, besides the
    sandbox's own pages and the registered redirect URIs (exact matches, as OpenID Connect's
    RP-initiated logout registers them).
    `rate_headers` says
    which answers carry `X-RateLimit-*`: `"on_429"` only the throttled ones, as Clever documents,
    or `"every"` answer to a bearer token.

    Strictness of the Events API and of OAuth (README.md, "Sandbox modes"):
    `events_ending_before_last`: Clever's definitions type the events list's `ending_before`
    as an event id and no Clever page mentions an `ending_before=last` form, so by default
    (`"refused"`) the events list answers it as any bad paging parameter, a 400 with
    `{"message": ...}`; `"answered"` serves the newest events for it (a client that uses the
    form must still find the newest event when it is refused).
    `previous_attributes`: where an `*.updated` event carries the changed fields' old values.
    Clever's Events API page shows them inside the event's `data`, next to `object`, and so
    does the feed; its definitions (`v3.x-events.yml`, `<kind>.updated`) put them beside
    `data`, on the event itself. The default, `"inside"`, follows the page and the feed;
    `"beside"` follows the definitions.
    `pkce`: Clever documents no PKCE support, and an authorization server ignores request
    parameters it does not understand (RFC 6749, 3.1 and 3.2). By default (`"ignored"`) the
    sandbox neither checks nor requires `code_challenge` / `code_verifier`, and its discovery
    document does not list `code_challenge_methods_supported`; `"enforced"` checks them as an
    RFC 7636 server does (S256 only) and advertises S256.
    """

    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    redirect_uris: tuple[str, ...] = (DEFAULT_REDIRECT_URI,)
    post_logout_redirect_uris: tuple[str, ...] = ()
    issuer: str | None = None
    students: int = 24
    seed: int = 1
    rate_limit_per_minute: int = 1200
    rate_headers: RateHeaders = "on_429"
    code_ttl_seconds: float = 60.0
    id_token_ttl_seconds: int = 3600
    # Clever adds an id_token to token answers only for apps it has set up for OIDC.
    oidc_enabled: bool = True
    # Strictness: events and OAuth
    events_ending_before_last: EndingBeforeLast = "refused"
    previous_attributes: PreviousAttributes = "inside"
    pkce: Pkce = "ignored"
