from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DEFAULT_CLIENT_ID = "sandbox-client-id"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 - a public demo credential, as Clever's own
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8000/auth/callback"

RateHeaders = Literal["every", "on_429"]


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
