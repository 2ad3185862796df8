"""Settings from environment variables (the README's "Settings"), checked all at once at start-up."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from starlette.datastructures import Secret

from app.clever.http import origin_of
from app.clever.models import ROLE_ORDER
from app.redis_client import KEY_PREFIX, parse_redis_url
from app.roster.fieldpolicy import parse_student_fields, parse_student_identity_fields

# Twenty tabs logging in at once fit, with room for a few retries (PENDING_LOGINS_PER_BROWSER).
PER_BROWSER_DEFAULT = 30
# Per process (PENDING_LOGINS_MAX): 166 logins a second for the whole TTL, above what one process
# serves in a morning rush; at most about 170 MB in Redis with every return_to at its longest.
TOTAL_DEFAULT = 100_000

T = TypeVar("T")
LibraryLogins = Literal["accept", "refuse"]

DEFAULT_IDLE_TIMEOUT = 30 * 60  # OWASP: 15-30 minutes of inactivity for a low-risk app
DEFAULT_ABSOLUTE_TIMEOUT = 8 * 60 * 60  # a school day
MAX_ABSOLUTE_TIMEOUT = 7 * 24 * 60 * 60
MIN_SECRET_BYTES = 32
MAX_PREVIOUS_SECRETS = 3
_PLACEHOLDER_WORDS = ("changeme", "change-me", "change_me", "secret", "example", "default", "password")
_CLIENT_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_KEY_PREFIX = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_COOKIE_SUFFIX = re.compile(r"^[A-Za-z0-9]{1,32}$")
# What a Clever district id may look like, wherever one is read (settings, /auth/login, the
# events worker, metrics labels).
DISTRICT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# The one path the service answers Clever's redirect at (app/web/routes/login.py), so the only
# path CLEVER_REDIRECT_URI may have: Clever sends the code to exactly the URI registered there.
CALLBACK_PATH = "/auth/callback"


class SettingsError(ValueError):
    """Every problem found in the settings, one line each, naming the variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid settings:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class ServiceClient:
    name: str
    secret: Secret


@dataclass(frozen=True)
class Settings:
    clever_client_id: str
    clever_client_secret: Secret
    clever_redirect_uri: str
    frontend_url: str
    session_secret: Secret
    redis_url: Secret | None = None
    # Secrets being rotated out: what they signed is still accepted, nothing new is signed with them.
    session_secret_previous: tuple[Secret, ...] = ()
    clever_oauth_url: str = "https://clever.com"
    clever_api_url: str = "https://api.clever.com"
    # PKCE S256 on every authorize request and its verifier at the token exchange (SECURITY.md,
    # requirement 3). Clever documents no PKCE, so it ignores them; false sends neither.
    clever_pkce: bool = True
    session_idle_timeout: int = DEFAULT_IDLE_TIMEOUT
    session_absolute_timeout: int = DEFAULT_ABSOLUTE_TIMEOUT
    cookie_secure: bool = True
    # Appended to the cookie names: the dev stack picks one per start (SECURITY.md, "The development stack").
    cookie_name_suffix: str = ""
    allowed_return_to: frozenset[str] = frozenset()
    cors_origins: frozenset[str] = frozenset()
    student_fields: frozenset[str] = field(default_factory=lambda: parse_student_fields(None))
    service_clients: tuple[ServiceClient, ...] = ()
    allowed_districts: frozenset[str] | None = None  # None: every district
    allowed_roles: frozenset[str] | None = None  # None: every role
    # Clever Library logins (no district, authorized by a teacher): "accept" or "refuse"
    # (README, "Clever Library logins"). ALLOWED_DISTRICTS does not apply to them; ALLOWED_ROLES does.
    library_logins: LibraryLogins = "refuse"
    events_poll_interval: float = 30.0
    # A district's roster copy serves logins only while its event stream was read to its end
    # within this many seconds (app.roster.source).
    roster_max_events_lag: int = 120
    redis_key_prefix: str = KEY_PREFIX
    # Seconds one call to Clever may take, retries and waits included.
    clever_timeout: int = 10
    # Logins started and not yet expired: per browser, and per backend process.
    pending_logins_per_browser: int = PER_BROWSER_DEFAULT
    pending_logins_max: int = TOTAL_DEFAULT


def load_settings(environ: Mapping[str, str] | None = None, *, require_redis: bool = True) -> Settings:
    """Read the settings; raise SettingsError naming every variable that is missing or wrong."""
    env = os.environ if environ is None else environ
    problems: list[str] = []

    def read(name: str, parse: Callable[[str], T], default: T | None = None, required: bool = False) -> T:
        raw = env.get(name, "").strip()
        if not raw:
            if required:
                problems.append(f"{name}: required")
            return default  # type: ignore[return-value]  # only read back when there are no problems
        try:
            return parse(raw)
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
            return default  # type: ignore[return-value]

    # A variable left unset takes the Settings field's default (read from the class): one copy each.
    client_id = read("CLEVER_CLIENT_ID", str, required=True)
    client_secret = read("CLEVER_CLIENT_SECRET", Secret, required=True)
    redirect_uri = read("CLEVER_REDIRECT_URI", _redirect_uri, required=True)
    frontend_url = read("FRONTEND_URL", _http_url, required=True)
    session_secret = read("SESSION_SECRET", _session_secret, required=True)
    previous_secrets = read("SESSION_SECRET_PREVIOUS", _previous_secrets, Settings.session_secret_previous)
    redis_url = read("REDIS_URL", _redis_url, required=require_redis)
    oauth_url = read("CLEVER_OAUTH_URL", _base_url, Settings.clever_oauth_url)
    api_url = read("CLEVER_API_URL", _base_url, Settings.clever_api_url)
    pkce = read("CLEVER_PKCE", _boolean, Settings.clever_pkce)
    idle = read("SESSION_IDLE_TIMEOUT", _seconds(60, 24 * 60 * 60), Settings.session_idle_timeout)
    absolute = read(
        "SESSION_ABSOLUTE_TIMEOUT", _seconds(60, MAX_ABSOLUTE_TIMEOUT), Settings.session_absolute_timeout
    )
    cookie_secure = read("COOKIE_SECURE", _boolean, Settings.cookie_secure)
    cookie_suffix = read("COOKIE_NAME_SUFFIX", _cookie_suffix, Settings.cookie_name_suffix)
    return_to = read("ALLOWED_RETURN_TO", _origins, Settings.allowed_return_to)
    cors = read("CORS_ORIGINS", _origins, Settings.cors_origins)
    student_fields = read("STUDENT_FIELDS", parse_student_fields, parse_student_fields(None))
    # One policy (app.roster.fieldpolicy): the identity fields withheld join STUDENT_FIELDS' set.
    withheld = read("STUDENT_IDENTITY_FIELDS", parse_student_identity_fields, frozenset[str]())
    student_fields = student_fields | withheld
    service_clients = read("SERVICE_CLIENTS", _service_clients, Settings.service_clients)
    districts = read("ALLOWED_DISTRICTS", _districts, None)
    roles = read("ALLOWED_ROLES", _roles, None)
    library: LibraryLogins = read("LIBRARY_LOGINS", _library_logins, Settings.library_logins)
    poll = read("EVENTS_POLL_INTERVAL", _poll_interval, Settings.events_poll_interval)
    events_lag = read("ROSTER_MAX_EVENTS_LAG", _seconds(10, 3600), Settings.roster_max_events_lag)
    key_prefix = read("REDIS_KEY_PREFIX", _key_prefix, Settings.redis_key_prefix)
    clever_timeout = read("CLEVER_TIMEOUT", _seconds(1, 60), Settings.clever_timeout)
    per_browser = read("PENDING_LOGINS_PER_BROWSER", _count(2, 1000), Settings.pending_logins_per_browser)
    pending_max = read("PENDING_LOGINS_MAX", _count(1, 10_000_000), Settings.pending_logins_max)

    if session_secret and any(str(old) == str(session_secret) for old in previous_secrets):
        problems.append("SESSION_SECRET_PREVIOUS: must not repeat SESSION_SECRET")
    if idle and absolute and absolute < idle:
        problems.append("SESSION_ABSOLUTE_TIMEOUT: must not be shorter than SESSION_IDLE_TIMEOUT")
    if poll and events_lag and events_lag <= poll:
        # Else every copy would be stale between two polls, and logins would all go live.
        problems.append("ROSTER_MAX_EVENTS_LAG: must be more than EVENTS_POLL_INTERVAL")
    if problems:
        raise SettingsError(problems)

    frontend_origin = origin_of(frontend_url)
    return Settings(
        clever_client_id=client_id,
        clever_client_secret=client_secret,
        clever_redirect_uri=redirect_uri,
        frontend_url=frontend_url,
        session_secret=session_secret,
        session_secret_previous=previous_secrets,
        redis_url=redis_url,
        clever_oauth_url=oauth_url,
        clever_api_url=api_url,
        clever_pkce=pkce,
        session_idle_timeout=idle,
        session_absolute_timeout=absolute,
        cookie_secure=cookie_secure,
        cookie_name_suffix=cookie_suffix,
        allowed_return_to=return_to or frozenset({frontend_origin}),
        cors_origins=cors or frozenset({frontend_origin}),
        student_fields=student_fields,
        service_clients=service_clients,
        allowed_districts=districts,
        allowed_roles=roles,
        library_logins=library,
        events_poll_interval=poll,
        roster_max_events_lag=events_lag,
        redis_key_prefix=key_prefix,
        clever_timeout=clever_timeout,
        pending_logins_per_browser=per_browser,
        pending_logins_max=pending_max,
    )


def _http_url(raw: str) -> str:
    origin_of(raw)
    if urlsplit(raw).fragment:
        raise ValueError("must not have a #fragment")
    return raw


def _base_url(raw: str) -> str:
    _http_url(raw)
    return raw.rstrip("/")


def _redirect_uri(raw: str) -> str:
    parts = urlsplit(_http_url(raw))
    if parts.query:
        raise ValueError("must not have a query string (Clever compares redirect URIs exactly)")
    if parts.scheme != "https" and (parts.hostname or "") not in _LOOPBACK_HOSTS:
        raise ValueError("must use https (plain http is only for localhost)")
    if parts.path != CALLBACK_PATH:
        raise ValueError(
            f"must have the path {CALLBACK_PATH}, where this service serves the callback "
            "(register that same URI at Clever; see docs/go-live.md)"
        )
    return raw


def _session_secret(raw: str) -> Secret:
    if len(raw.encode()) < MIN_SECRET_BYTES:
        raise ValueError(f"must be at least {MIN_SECRET_BYTES} bytes (e.g. `openssl rand -base64 48`)")
    lowered = raw.lower()
    if len(set(raw)) < 8 or any(word in lowered for word in _PLACEHOLDER_WORDS):
        raise ValueError("looks like a placeholder; use a random value (e.g. `openssl rand -base64 48`)")
    return Secret(raw)


def _previous_secrets(raw: str) -> tuple[Secret, ...]:
    """Comma-separated, newest first: each must be as strong as SESSION_SECRET."""
    secrets = tuple(_session_secret(part.strip()) for part in raw.split(",") if part.strip())
    if len(secrets) > MAX_PREVIOUS_SECRETS:
        raise ValueError(f"at most {MAX_PREVIOUS_SECRETS} secrets")
    return secrets


def _redis_url(raw: str) -> Secret:
    parse_redis_url(raw)  # the forms and their options are in app.redis_client
    return Secret(raw)


def _count(low: int, high: int, unit: str = "") -> Callable[[str], int]:
    """A parser of whole numbers from `low` to `high`; its messages name the `unit`, if any."""
    whole, bounds = ("a whole number", f"between {low} and {high}")
    if unit:
        whole, bounds = f"{whole} of {unit}", f"{bounds} {unit}"

    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"must be {whole}, not {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"must be {bounds}")
        return value

    return parse


def _seconds(low: int, high: int) -> Callable[[str], int]:
    return _count(low, high, "seconds")


def _poll_interval(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"must be a number of seconds, not {raw!r}") from None
    if not 1 <= value <= 3600:
        raise ValueError("must be between 1 and 3600 seconds")
    return value


def _cookie_suffix(raw: str) -> str:
    if not _COOKIE_SUFFIX.match(raw):
        raise ValueError("must be 1-32 letters or digits")
    return raw


def _boolean(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"must be true or false, not {raw!r}")


def _origins(raw: str) -> frozenset[str]:
    origins = set()
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        if item == "*":
            raise ValueError("`*` is not allowed: list the origins")
        if urlsplit(item).path not in ("", "/") or urlsplit(item).query:
            raise ValueError(f"{item!r} is not an origin (scheme://host[:port])")
        origins.add(origin_of(item))
    return frozenset(origins)


def _service_clients(raw: str) -> tuple[ServiceClient, ...]:
    clients: dict[str, ServiceClient] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        name, sep, secret = item.partition(":")
        if not sep or not _CLIENT_NAME.match(name):
            raise ValueError("each entry must be name:secret, the name of letters, digits, . _ -")
        if len(secret) < 24:
            raise ValueError(f"the secret of {name!r} must be at least 24 characters")
        if name in clients:
            raise ValueError(f"{name!r} is listed twice")
        clients[name] = ServiceClient(name=name, secret=Secret(secret))
    return tuple(clients.values())


def _key_prefix(raw: str) -> str:
    if not _KEY_PREFIX.match(raw):
        raise ValueError("must be 1-64 letters, digits or . _ - :, and must not contain braces")
    return raw


def _library_logins(raw: str) -> LibraryLogins:
    value = raw.strip().lower()
    if value == "accept":
        return "accept"
    if value == "refuse":
        return "refuse"
    raise ValueError("must be accept or refuse")


def _roles(raw: str) -> frozenset[str] | None:
    names = frozenset(part.strip() for part in raw.split(",") if part.strip())
    if bad := sorted(name for name in names if name not in ROLE_ORDER):
        raise ValueError(f"not a role: {', '.join(bad)} (roles: {', '.join(ROLE_ORDER)})")
    return names or None


def _districts(raw: str) -> frozenset[str] | None:
    ids = frozenset(part.strip() for part in raw.split(",") if part.strip())
    if bad := sorted(i for i in ids if not DISTRICT_ID.match(i)):
        raise ValueError(f"not a district id: {', '.join(bad)}")
    return ids or None
