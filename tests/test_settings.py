from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app.roster.fieldpolicy import DEFAULT_STUDENT_FIELDS, STUDENT_FIELDS
from app.settings import CALLBACK_PATH, SettingsError, load_settings

CHART = Path(__file__).resolve().parents[1] / "helm" / "clever-login"

GOOD = {
    "CLEVER_CLIENT_ID": "client-id",
    "CLEVER_CLIENT_SECRET": "client-secret-value",
    "CLEVER_REDIRECT_URI": "https://login.example.org/auth/callback",
    "FRONTEND_URL": "https://app.example.org/home",
    "SESSION_SECRET": "q8Zr1vLk0pXw3nT6yH9bS2dF5gJ7mC4a",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def test_a_complete_environment_loads_with_documented_defaults() -> None:
    settings = load_settings(GOOD)
    assert settings.clever_oauth_url == "https://clever.com"
    assert settings.clever_api_url == "https://api.clever.com"
    assert settings.cookie_secure is True
    assert settings.session_idle_timeout == 1800
    assert settings.session_absolute_timeout == 8 * 3600
    assert settings.allowed_return_to == {"https://app.example.org"}
    assert settings.cors_origins == {"https://app.example.org"}
    assert settings.student_fields == DEFAULT_STUDENT_FIELDS
    assert settings.service_clients == ()
    assert settings.allowed_districts is None
    assert settings.redis_key_prefix == "cl:"
    assert settings.pending_logins_per_browser == 30
    assert settings.pending_logins_max == 100_000
    assert settings.roster_max_events_lag == 120


def test_secrets_are_masked_in_repr() -> None:
    settings = load_settings({**GOOD, "SERVICE_CLIENTS": "reports:abcdefghijklmnopqrstuvwxyz12"})
    text = repr(settings)
    for secret in (GOOD["CLEVER_CLIENT_SECRET"], GOOD["SESSION_SECRET"], "abcdefghijklmnopqrstuvwxyz12"):
        assert secret not in text
    assert str(settings.session_secret) == GOOD["SESSION_SECRET"]
    assert settings.service_clients[0].name == "reports"


def test_every_problem_is_reported_at_once_with_variable_names() -> None:
    env = {
        "CLEVER_REDIRECT_URI": "http://login.example.org/cb?x=1",
        "SESSION_SECRET": "short",
        "SESSION_IDLE_TIMEOUT": "soon",
        "COOKIE_SECURE": "maybe",
    }
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    named = {problem.split(":", 1)[0] for problem in caught.value.problems}
    assert named == {
        "CLEVER_CLIENT_ID", "CLEVER_CLIENT_SECRET", "CLEVER_REDIRECT_URI", "FRONTEND_URL",
        "SESSION_SECRET", "REDIS_URL", "SESSION_IDLE_TIMEOUT", "COOKIE_SECURE",
    }  # fmt: skip
    assert "short" not in str(caught.value)  # the message never echoes a secret


def test_the_events_lag_a_fresh_roster_copy_allows_must_exceed_the_poll_interval() -> None:
    """Else a copy would turn stale between two polls of a worker keeping up, and every login
    would go live."""
    assert load_settings({**GOOD, "ROSTER_MAX_EVENTS_LAG": "61", "EVENTS_POLL_INTERVAL": "60"})
    for lag in ("60", "30"):
        with pytest.raises(SettingsError) as caught:
            load_settings({**GOOD, "ROSTER_MAX_EVENTS_LAG": lag, "EVENTS_POLL_INTERVAL": "60"})
        assert caught.value.problems == ["ROSTER_MAX_EVENTS_LAG: must be more than EVENTS_POLL_INTERVAL"]
    with pytest.raises(SettingsError):
        load_settings({**GOOD, "EVENTS_POLL_INTERVAL": "120"})  # the default lag is 120


def test_redis_is_optional_when_the_command_brings_its_own() -> None:
    env = {k: v for k, v in GOOD.items() if k != "REDIS_URL"}
    assert load_settings(env, require_redis=False).redis_url is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SESSION_SECRET", "changeme-changeme-changeme-changeme"),
        ("SESSION_SECRET", "a" * 64),
        ("SESSION_SECRET", "0123456"),
        ("CLEVER_REDIRECT_URI", "http://login.example.org/auth/callback"),
        ("CLEVER_REDIRECT_URI", "https://login.example.org/auth/callback?district=1"),
        ("CLEVER_REDIRECT_URI", "/auth/callback"),
        ("FRONTEND_URL", "javascript:alert(1)"),
        ("FRONTEND_URL", "https://app.example.org/#frag"),
        ("CORS_ORIGINS", "*"),
        ("CORS_ORIGINS", "https://app.example.org/path"),
        ("ALLOWED_RETURN_TO", "ftp://files.example.org"),
        ("STUDENT_FIELDS", "grade,ssn"),
        ("SERVICE_CLIENTS", "reports"),
        ("SERVICE_CLIENTS", "reports:tooshort"),
        ("SERVICE_CLIENTS", "a:abcdefghijklmnopqrstuvwxyz12,a:abcdefghijklmnopqrstuvwxyz34"),
        ("ALLOWED_DISTRICTS", "abc def"),
        ("SESSION_IDLE_TIMEOUT", "5"),
        ("SESSION_ABSOLUTE_TIMEOUT", "999999999"),
        ("EVENTS_POLL_INTERVAL", "0"),
        ("ROSTER_MAX_EVENTS_LAG", "5"),
        ("ROSTER_MAX_EVENTS_LAG", "3601"),
        ("ROSTER_MAX_EVENTS_LAG", "soon"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("REDIS_URL", "redis+sentinel://127.0.0.1:26379"),
        ("REDIS_URL", "redis+cluster://127.0.0.1:7001/3"),
        ("REDIS_URL", "redis://127.0.0.1:6379/0?socket_timeout=forever"),
        ("REDIS_KEY_PREFIX", "a{b}"),
        ("PENDING_LOGINS_PER_BROWSER", "1"),
        ("PENDING_LOGINS_PER_BROWSER", "many"),
        ("PENDING_LOGINS_MAX", "0"),
        ("COOKIE_NAME_SUFFIX", "a;b"),
        ("COOKIE_NAME_SUFFIX", "x" * 33),
    ],
)
def test_bad_values_are_refused(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**GOOD, name: value})
    assert [problem.split(":", 1)[0] for problem in caught.value.problems] == [name]


def test_absolute_timeout_must_cover_the_idle_timeout() -> None:
    with pytest.raises(SettingsError, match="SESSION_ABSOLUTE_TIMEOUT"):
        load_settings({**GOOD, "SESSION_IDLE_TIMEOUT": "7200", "SESSION_ABSOLUTE_TIMEOUT": "3600"})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", DEFAULT_STUDENT_FIELDS),
        ("*", STUDENT_FIELDS),
        ("grade, gifted_status ,home_language_code", {"grade", "gifted_status", "home_language_code"}),
    ],
)
def test_student_fields(value: str, expected: frozenset[str]) -> None:
    assert load_settings({**GOOD, "STUDENT_FIELDS": value}).student_fields == expected


def test_lists_of_origins_and_districts_are_normalised() -> None:
    settings = load_settings(
        {
            **GOOD,
            "ALLOWED_RETURN_TO": "https://App.Example.org:443, http://localhost:5173/",
            "ALLOWED_DISTRICTS": "5f0c1a2b3c4d5e6f7a8b9c0d, 5f0c1a2b3c4d5e6f7a8b9c0e",
            "COOKIE_SECURE": "false",
        }
    )
    assert settings.allowed_return_to == {"https://app.example.org", "http://localhost:5173"}
    assert settings.allowed_districts == frozenset({"5f0c1a2b3c4d5e6f7a8b9c0d", "5f0c1a2b3c4d5e6f7a8b9c0e"})
    assert settings.cookie_secure is False


def test_library_logins_are_refused_unless_accepted() -> None:
    assert load_settings(GOOD).library_logins == "refuse"
    assert load_settings({**GOOD, "LIBRARY_LOGINS": " Accept "}).library_logins == "accept"
    assert load_settings({**GOOD, "LIBRARY_LOGINS": "refuse"}).library_logins == "refuse"
    with pytest.raises(SettingsError) as refused:
        load_settings({**GOOD, "LIBRARY_LOGINS": "yes"})
    assert refused.value.problems == ["LIBRARY_LOGINS: must be accept or refuse"]


def test_allowed_roles_are_role_names() -> None:
    assert load_settings(GOOD).allowed_roles is None
    settings = load_settings({**GOOD, "ALLOWED_ROLES": "teacher, student"})
    assert settings.allowed_roles == frozenset({"teacher", "student"})
    with pytest.raises(SettingsError) as refused:
        load_settings({**GOOD, "ALLOWED_ROLES": "teacher,admin"})
    assert refused.value.problems == [
        "ALLOWED_ROLES: not a role: admin (roles: district_admin, staff, teacher, student, contact)"
    ]


REDIRECT_URIS = [
    ("https://login.example.org/auth/callback", True),
    ("https://login.example.org:8443/auth/callback", True),
    ("http://localhost:8000/auth/callback", True),
    ("http://127.0.0.1/auth/callback", True),
    ("https://app.example.org/oauth/cb", False),
    ("https://login.example.org/auth/callback/", False),
    ("https://login.example.org/login/auth/callback", False),
    ("https://login.example.org", False),
    ("http://login.example.org/auth/callback", False),
    ("https://login.example.org/auth/callback?district=1", False),
]


@pytest.mark.parametrize(("uri", "accepted"), REDIRECT_URIS)
def test_the_redirect_uri_must_have_the_path_the_callback_is_served_at(uri: str, accepted: bool) -> None:
    if accepted:
        assert load_settings({**GOOD, "CLEVER_REDIRECT_URI": uri}).clever_redirect_uri == uri
        return
    with pytest.raises(SettingsError) as caught:
        load_settings({**GOOD, "CLEVER_REDIRECT_URI": uri})
    assert [problem.split(":", 1)[0] for problem in caught.value.problems] == ["CLEVER_REDIRECT_URI"]


def test_a_redirect_uri_on_another_path_is_refused_naming_the_served_path() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**GOOD, "CLEVER_REDIRECT_URI": "https://app.example.org/oauth/cb"})
    assert CALLBACK_PATH in caught.value.problems[0]
    assert "https://app.example.org/oauth/cb" not in str(caught.value)


@pytest.mark.parametrize(("uri", "accepted"), REDIRECT_URIS)
def test_the_chart_schema_accepts_the_redirect_uris_the_settings_accept(uri: str, accepted: bool) -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    pattern = schema["properties"]["config"]["properties"]["cleverRedirectUri"]["pattern"]
    assert bool(re.search(pattern, uri)) is accepted
