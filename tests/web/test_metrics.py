from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from app.clever.budget import Headroom
from app.web.health import Readiness, health_routes
from app.web.metrics import CleverMetrics, Metrics
from app.web.middleware import RequestMetrics
from tests.conftest import RunningSandbox
from tests.support.browser import Browser
from tests.support.demo import demo_user

# Distinctive enough that finding it in the exposition can only mean it leaked into a label.
THING_ID = "4815162342"


async def thing(request: Request) -> Response:
    return JSONResponse({"id": request.path_params["thing_id"]})


async def file(request: Request) -> Response:
    return JSONResponse({"name": request.path_params["name"]})


def no_redis() -> Redis:
    raise AssertionError("these tests never ask for readiness")


async def failing(request: Request) -> Response:
    raise RuntimeError("boom")


def build_app(metrics: Metrics) -> ASGIApp:
    readiness = Readiness(no_redis)
    starlette = Starlette(
        routes=[
            Route("/things/{thing_id}", thing, methods=["GET", "POST"]),
            Route("/boom", failing),
            Mount("/files", routes=[Route("/{name}", file)]),
            *health_routes(readiness, metrics),
        ]
    )
    return RequestMetrics(starlette, metrics)


def client(app: ASGIApp) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="https://login.example.org")


def samples(exposition: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """`name`'s samples, keyed by their sorted labels."""
    found: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def requests_key(route: str, method: str, status: str) -> tuple[tuple[str, str], ...]:
    return (("method", method), ("route", route), ("status", status))


async def test_requests_are_counted_by_route_template_never_by_path() -> None:
    metrics = Metrics()
    async with client(build_app(metrics)) as http:
        for _ in range(2):
            assert (await http.get(f"/things/{THING_ID}")).status_code == 200
        assert (await http.post(f"/things/{THING_ID}")).status_code == 200
        assert (await http.get(f"/nowhere/{THING_ID}")).status_code == 404
        assert (await http.get(f"/files/{THING_ID}")).status_code == 200
        assert (await http.delete(f"/things/{THING_ID}")).status_code == 405
        exposition = await http.get("/metrics")
    assert exposition.status_code == 200
    assert exposition.headers["content-type"].startswith("text/plain")
    text = exposition.text
    assert THING_ID not in text
    counts = samples(text, "http_requests_total")
    assert counts[requests_key("/things/{thing_id}", "GET", "2xx")] == 2
    assert counts[requests_key("/things/{thing_id}", "POST", "2xx")] == 1
    assert counts[requests_key("/things/{thing_id}", "DELETE", "4xx")] == 1
    assert counts[requests_key("<unmatched>", "GET", "4xx")] == 1
    assert counts[requests_key("/{name}", "GET", "2xx")] == 1
    durations = samples(text, "http_request_duration_seconds_count")
    assert durations[(("method", "GET"), ("route", "/things/{thing_id}"))] == 2


async def test_failures_and_invented_methods_are_labelled_by_class() -> None:
    metrics = Metrics()
    async with client(build_app(metrics)) as http:
        assert (await http.get("/boom")).status_code == 500
        assert (await http.request("BREW", f"/things/{THING_ID}")).status_code == 405
        text = (await http.get("/metrics")).text
    counts = samples(text, "http_requests_total")
    assert counts[requests_key("/boom", "GET", "5xx")] == 1
    assert counts[requests_key("/things/{thing_id}", "other", "4xx")] == 1
    assert "BREW" not in text


async def test_two_apps_in_one_process_count_apart() -> None:
    first, second = Metrics(), Metrics()
    async with client(build_app(first)) as http_first, client(build_app(second)) as http_second:
        await http_first.get(f"/things/{THING_ID}")
        text_first = (await http_first.get("/metrics")).text
        text_second = (await http_second.get("/metrics")).text
    assert samples(text_first, "http_requests_total")[requests_key("/things/{thing_id}", "GET", "2xx")] == 1
    assert requests_key("/things/{thing_id}", "GET", "2xx") not in samples(text_second, "http_requests_total")


def test_login_and_clever_counters() -> None:
    metrics = Metrics()
    metrics.login("success")
    metrics.login("success", "clever_portal")
    metrics.login("district_not_allowed")
    metrics.login("success")
    metrics.clever_call("user_sections", "ok", 0.12, 200)
    metrics.clever_call("token_exchange", "rejected", status=400)
    metrics.clever_call("user", "unavailable", 2.0)
    metrics.clever_call("user_sections", "ok", 0.2, 200)
    text = metrics.render().decode()
    logins = samples(text, "logins_total")
    assert logins == {
        (("method", "clever_portal"), ("outcome", "success")): 1,
        (("method", "unknown"), ("outcome", "success")): 2,
        (("method", "unknown"), ("outcome", "district_not_allowed")): 1,
    }
    calls = samples(text, "clever_calls_total")
    assert calls[(("operation", "user_sections"), ("outcome", "ok"), ("status", "200"))] == 2
    assert calls[(("operation", "token_exchange"), ("outcome", "rejected"), ("status", "400"))] == 1
    assert calls[(("operation", "user"), ("outcome", "unavailable"), ("status", "none"))] == 1
    timed = samples(text, "clever_call_duration_seconds_count")
    assert timed == {(("operation", "user_sections"),): 2, (("operation", "user"),): 1}


def test_label_sets_past_the_bound_children_are_still_counted() -> None:
    metrics = Metrics()
    for round_ in range(2):
        for status in range(200, 300):
            metrics.clever_call("user", "ok", 0.01, status)
            metrics.rate_headroom(f"{status:024x}", remaining=status + round_, limit=1200)
    text = metrics.render().decode()
    calls = samples(text, "clever_calls_total")
    assert len(calls) == 100
    assert set(calls.values()) == {2}
    assert samples(text, "clever_call_duration_seconds_count") == {(("operation", "user"),): 200}
    remaining = samples(text, "clever_rate_limit_remaining")
    assert remaining == {(("district", f"{status:024x}"),): status + 1 for status in range(200, 300)}


@pytest.mark.parametrize(
    "value", ["Ada Lovelace", "ada@example.org", "5f6e7d8c9b0a1234", "Clever said: no", "x" * 41, ""]
)
def test_a_label_that_is_not_a_short_code_becomes_other(value: str) -> None:
    metrics = Metrics()
    metrics.login(value, value or "x y")
    metrics.clever_call(value, value, status=999)
    metrics.session_validation(value)
    text = metrics.render().decode()
    assert samples(text, "logins_total") == {(("method", "other"), ("outcome", "other")): 1}
    assert samples(text, "clever_calls_total") == {
        (("operation", "other"), ("outcome", "other"), ("status", "none")): 1
    }
    assert samples(text, "session_validations_total") == {(("outcome", "other"),): 1}
    if value:
        assert value not in text


def test_rate_headroom_is_labelled_by_district_id_only() -> None:
    metrics = Metrics()
    observer = CleverMetrics(metrics)
    observer.headroom(Headroom(label="5f1b2c3d4e5f6a7b8c9d0e1f", limit=1200, remaining=1100, reset_at=0.0))
    observer.headroom(Headroom(label="Ada Lovelace <ada@example.org>", limit=1200, remaining=3, reset_at=0.0))
    observer.attempt("user_sections", "rate_limited", 429, 0.01)
    text = metrics.render().decode()
    assert samples(text, "clever_rate_limit_remaining") == {
        (("district", "5f1b2c3d4e5f6a7b8c9d0e1f"),): 1100,
        (("district", "other"),): 3,
    }
    assert samples(text, "clever_rate_limit_limit")[(("district", "5f1b2c3d4e5f6a7b8c9d0e1f"),)] == 1200
    assert "Ada" not in text
    calls = samples(text, "clever_calls_total")
    assert calls == {(("operation", "user_sections"), ("outcome", "rate_limited"), ("status", "429")): 1}


@pytest.mark.parametrize(
    ("error", "label"),
    [
        (RedisConnectionError("secret host name"), "connection_error"),
        (RedisTimeoutError(), "timeout_error"),
        (ResponseError("WRONGTYPE"), "response_error"),
    ],
)
def test_redis_errors_are_counted_by_class(error: Exception, label: str) -> None:
    metrics = Metrics()
    metrics.redis_error(error)
    metrics.redis_error(error)
    text = metrics.render().decode()
    assert samples(text, "redis_errors_total") == {(("error", label),): 2}
    assert "secret" not in text


async def test_a_backend_reports_clever_calls_rate_headroom_and_session_checks(
    sandbox: RunningSandbox, backend: str
) -> None:
    user = demo_user(sandbox.sandbox.store, "teacher")
    async with Browser(backend) as browser:
        assert (await browser.session()).status_code == 401  # no cookie yet
        assert (await browser.login(user["id"])).response.status_code == 302
        assert (await browser.session()).status_code == 200
        browser.http.cookies.set("clever_session", "v1.forged", domain="127.0.0.1")
        assert (await browser.session()).status_code == 401
        text = (await browser.http.get(f"{backend}/metrics")).text
    validations = samples(text, "session_validations_total")
    assert validations == {
        (("outcome", "no_session"),): 1,
        (("outcome", "valid"),): 1,
        (("outcome", "invalid"),): 1,
    }
    calls = samples(text, "clever_calls_total")
    for operation in ("exchange_code", "user", "user_sections", "user_resources"):
        assert calls[(("operation", operation), ("outcome", "ok"), ("status", "200"))] >= 1
    timed = samples(text, "clever_call_duration_seconds_count")
    assert timed[(("operation", "user_sections"),)] >= 1
    district = (("district", user["district"]),)
    assert samples(text, "clever_rate_limit_limit")[district] == sandbox.config.rate_limit_per_minute
    assert 0 < samples(text, "clever_rate_limit_remaining")[district] < sandbox.config.rate_limit_per_minute
    assert user["id"] not in text


def test_roster_sources_have_a_fixed_vocabulary_shown_from_the_start() -> None:
    metrics = Metrics()
    metrics.roster_source("login", None)
    metrics.roster_source("refresh", "stale")
    found = samples(metrics.render().decode(), "roster_sources_total")
    expected = {
        (("purpose", purpose), ("reason", reason), ("source", "store" if reason == "none" else "live"))
        for purpose in ("login", "refresh")
        for reason in ("none", "no_copy", "stale", "not_in_copy", "unreadable", "library")
    }
    assert set(found) == expected
    assert found[(("purpose", "login"), ("reason", "none"), ("source", "store"))] == 1
    assert found[(("purpose", "refresh"), ("reason", "stale"), ("source", "live"))] == 1
    assert sum(found.values()) == 2
