from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

DEFAULT_CLIENT_ID = "sandbox-client-id"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 - a public demo credential, as Clever's own
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8000/auth/callback"

RateHeaders = Literal["every", "on_429"]

# The scopes of Clever's own example district-app token (README, "The Clever sandbox").
DISTRICT_SCOPES = frozenset(
    {
        "read:district_admins", "read:districts", "read:resources", "read:school_admins",
        "read:schools", "read:sections", "read:student_contacts", "read:students", "read:teachers",
        "read:user_id",
    }
)  # fmt: skip
RESOURCES_SCOPE = "read:resources"
# Clever grants the sensitive student fields on request, as extra scopes, but publishes no name
# for them: this one is the sandbox's own.
SENSITIVE_SCOPE = "read:students_sensitive"
DEFAULT_SCOPES = DISTRICT_SCOPES | {SENSITIVE_SCOPE}
ScopeError = Literal["json", "html"]
UserTypeSpelling = Literal["roles", "spaced", "school_admin"]

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

    Strictness, for a service that must work with less than the demo app gets
    (README, "Sandbox modes"):
    `scopes`: what the district granted the app. Without `read:resources`, every resources path
    (`/resources...`, `/{users,sections,courses}/{id}/resources`) answers the missing-scope
    error and the event feed holds no `resources.*` events; without `read:students_sensitive`,
    student records lack the sensitive fields (`SENSITIVE_STUDENT_FIELDS`): absent, not empty.
    `scope_error`: that error as `"json"` (403 `{"message": "Resource not in token's scopes"}`)
    or `"html"` (Clever's HTML page, which partners report on token and scope mix-ups).
    `sparse_students`: every student record carries only what Clever guarantees: id, district,
    first and last name, created and last_modified, and in its student role legacy_id, school,
    schools, enrollments, created and last_modified (what the definitions validate and never
    allow to be null); no email, grade, demographics or anything else.
    `user_type_spelling`: how id_tokens and `/userinfo` spell `user_type`: `"roles"` as the v3
    roles keys (`district_admin`, `staff`), `"spaced"` with `district admin` as Clever's OIDC
    page writes it, `"school_admin"` with staff logins as `school_admin`, their pre-v3 name.
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
    # Strictness: data and scopes
    scopes: frozenset[str] = DEFAULT_SCOPES
    scope_error: ScopeError = "json"
    sparse_students: bool = False
    user_type_spelling: UserTypeSpelling = "roles"
    # Strictness: events and OAuth
    events_ending_before_last: EndingBeforeLast = "refused"
    previous_attributes: PreviousAttributes = "inside"
    pkce: Pkce = "ignored"


# The modes `clever-login sandbox --mode FIELD=VALUE` may set, with the values each takes.
_CHOICES: dict[str, tuple[str, ...]] = {
    "rate_headers": get_args(RateHeaders),
    "scope_error": get_args(ScopeError),
    "user_type_spelling": get_args(UserTypeSpelling),
    "events_ending_before_last": get_args(EndingBeforeLast),
    "previous_attributes": get_args(PreviousAttributes),
    "pkce": get_args(Pkce),
}
_SWITCHES = ("sparse_students", "oidc_enabled")
MODE_FIELDS = (*_CHOICES, *_SWITCHES, "scopes")


def with_modes(config: SandboxConfig, assignments: Sequence[str]) -> SandboxConfig:
    """`config` with each `FIELD=VALUE` of `assignments` set (a mode field of SandboxConfig;
    `scopes` takes a comma list, the switches `true` or `false`); ValueError saying what is
    wrong with the first one that is not."""
    changes: dict[str, Any] = {}
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or name not in MODE_FIELDS:
            raise ValueError(f"{assignment!r}: expected FIELD=VALUE, FIELD one of {', '.join(MODE_FIELDS)}")
        if name in _CHOICES:
            if value not in _CHOICES[name]:
                raise ValueError(f"{name}: {value!r} is not one of {', '.join(_CHOICES[name])}")
            changes[name] = value
        elif name in _SWITCHES:
            if value not in ("true", "false"):
                raise ValueError(f"{name}: {value!r} is not true or false")
            changes[name] = value == "true"
        else:
            changes[name] = frozenset(scope.strip() for scope in value.split(",") if scope.strip())
    return replace(config, **changes)
