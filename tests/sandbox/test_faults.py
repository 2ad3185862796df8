"""Injected faults: the rule format, count semantics, every body kind, and the control routes."""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from clever_sandbox.config import SandboxConfig
from clever_sandbox.faults import HUGE_BODY_BYTES, FaultError, FaultRule, FaultSet, parse_fault
from tests.conftest import RunningSandbox
from tests.sandbox.asgi import LocalSandbox, local_sandbox

SECTIONS = "/v3.1/users/*/sections"


@pytest.fixture
async def local() -> AsyncIterator[LocalSandbox]:
    async with local_sandbox(SandboxConfig(rate_limit_per_minute=777)) as local:
        yield local


def district_auth(local: LocalSandbox) -> dict[str, str]:
    token = local.sandbox.tokens.district_token(local.sandbox.store.district_ids()[0], local.config.client_id)
    return {"Authorization": f"Bearer {token}"}


def some_user_id(local: LocalSandbox) -> str:
    return next(d.user_id for d in local.sandbox.store.demo_logins() if d.user_type == "teacher")


async def add_fault(http: httpx.AsyncClient, **rule: Any) -> httpx.Response:
    response = await http.post("/sandbox/faults", json=rule)
    assert response.status_code == 201, response.text
    return response


# --- the rule format ----------------------------------------------------------------------


def test_parse_fault_fills_defaults() -> None:
    assert parse_fault({"path": "/v3.0/me"}) == FaultRule(path="/v3.0/me", method="*", status=None)
    rule = parse_fault(
        {"path": SECTIONS, "method": "get", "status": 500, "latency_ms": 5, "body": "html", "count": 2}
    )
    assert rule == FaultRule(SECTIONS, "GET", 500, 5, "html", 2)


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        "x",
        {},
        {"path": "v3.1/users"},
        {"path": 7},
        {"path": "/x", "surprise": 1},
        {"path": "/x", "method": "GET /"},
        {"path": "/x", "method": 3},
        {"path": "/x", "status": 99},
        {"path": "/x", "status": 600},
        {"path": "/x", "status": "500"},
        {"path": "/x", "status": True},
        {"path": "/x", "status": 500.0},
        {"path": "/x", "latency_ms": -1},
        {"path": "/x", "latency_ms": "10"},
        {"path": "/x", "latency_ms": 10**9},
        {"path": "/x", "latency_ms": float("nan")},
        {"path": "/x", "status": 500, "body": "xml"},
        {"path": "/x", "body": "html"},
        {"path": "/x", "status": 200},
        {"path": "/x", "count": 0},
        {"path": "/x", "count": -2},
        {"path": "/x", "count": 1.5},
        {"path": "/x", "count": False},
    ],
)
def test_parse_fault_refuses_bad_rules(data: object) -> None:
    with pytest.raises(FaultError):
        parse_fault(data)


@pytest.mark.parametrize(
    ("pattern", "method", "path", "matches"),
    [
        (SECTIONS, "GET", "/v3.1/users/abc/sections", True),
        ("/v3.1/users/*", "GET", "/v3.1/users/abc/sections", True),  # `*` crosses `/`
        (SECTIONS, "GET", "/v3.0/users/abc/sections", False),
        (SECTIONS, "POST", "/v3.1/users/abc/sections", False),
        ("/oauth/tokens", "*", "/oauth/tokens", True),
        ("/oauth/tokens", "*", "/oauth/tokens/", False),
        ("*", "*", "/anything/at/all", True),
    ],
)
def test_rule_matching(pattern: str, method: str, path: str, matches: bool) -> None:
    rule = parse_fault({"path": pattern, "method": method, "status": 500})
    assert rule.matches("GET", path) is matches


def test_count_is_spent_by_each_match_and_null_lasts() -> None:
    faults = FaultSet()
    faults.add(FaultRule("/a", status=500, count=2))
    faults.add(FaultRule("/*", status=503))

    hits = [faults.match("GET", "/a") for _ in range(4)]

    assert [rule.status if rule else None for rule in hits] == [500, 500, 503, 503]
    assert faults.active() == [FaultRule("/*", status=503, count=None)]
    assert faults.match("GET", "/b") is not None
    faults.clear()
    assert faults.match("GET", "/a") is None


# --- every answer kind over HTTP ----------------------------------------------------------


async def test_status_with_null_body_gets_the_data_api_error_body(local: LocalSandbox) -> None:
    await add_fault(local.http, path=SECTIONS, method="GET", status=500, count=1)
    url = f"/v3.1/users/{some_user_id(local)}/sections"

    faulted = await local.http.get(url, headers=district_auth(local))
    normal = await local.http.get(url, headers=district_auth(local))

    assert faulted.status_code == 500
    assert faulted.json() == {"message": "Internal Server Error"}
    assert normal.status_code == 200
    assert normal.json()["data"], "the fault was used up after one request"


async def test_null_body_on_an_oauth_path_is_oauth_shaped(local: LocalSandbox) -> None:
    await add_fault(local.http, path="/oauth/tokens", method="POST", status=503)
    response = await local.http.post("/oauth/tokens", json={})
    assert response.status_code == 503
    assert set(response.json()) == {"error", "error_description"}


async def test_html_body(local: LocalSandbox) -> None:
    await add_fault(local.http, path="/v3.0/me", status=502, body="html")
    response = await local.http.get("/v3.0/me")
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.lstrip().lower().startswith("<!doctype html>")


async def test_malformed_body_claims_json_but_is_not(local: LocalSandbox) -> None:
    await add_fault(local.http, path="/v3.1/users/*", status=200, body="malformed")
    response = await local.http.get(f"/v3.1/users/{some_user_id(local)}", headers=district_auth(local))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


async def test_huge_body_is_valid_json_far_over_any_cap(local: LocalSandbox) -> None:
    await add_fault(local.http, path=SECTIONS, status=200, body="huge")
    response = await local.http.get(f"/v3.1/users/{some_user_id(local)}/sections")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert len(response.content) >= HUGE_BODY_BYTES * 0.95
    assert len(json.loads(response.content)["data"]) > 1000


async def test_huge_body_streams_without_a_length_over_loopback(sandbox: RunningSandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        await add_fault(http, path="/v3.1/sections", status=500, body="huge", count=1)
        received = 0
        async with http.stream("GET", "/v3.1/sections") as response:
            assert response.status_code == 500
            assert "content-length" not in response.headers
            async for chunk in response.aiter_bytes():
                received += len(chunk)
                if received > 1_000_000:
                    break  # a client with a read cap stops here; the server must cope
        assert received > 1_000_000
        after = await http.get("/v3.1/sections")
    assert after.status_code == 401, "the fault was used up; the real endpoint answers again"


async def test_429_fault_sets_rate_limit_headers_a_second_ahead(local: LocalSandbox) -> None:
    await add_fault(local.http, path="/v3.0/me", status=429)
    before = math.ceil(time.time())

    response = await local.http.get("/v3.0/me")

    assert response.status_code == 429
    assert response.json() == {"message": "Too Many Requests"}
    reset = int(response.headers["X-RateLimit-Reset"])
    assert before + 1 <= reset <= math.ceil(time.time()) + 1
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert response.headers["X-RateLimit-Limit"] == "777"


async def test_429_fault_with_an_html_body_keeps_the_headers(local: LocalSandbox) -> None:
    await add_fault(local.http, path="/v3.0/me", status=429, body="html")
    response = await local.http.get("/v3.0/me")
    assert response.headers["content-type"].startswith("text/html")
    assert "X-RateLimit-Reset" in response.headers


async def test_latency_without_status_answers_normally_after_the_wait(local: LocalSandbox) -> None:
    await add_fault(local.http, path="/.well-known/openid-configuration", latency_ms=150, count=1)

    started = time.monotonic()
    slow = await local.http.get("/.well-known/openid-configuration")
    slow_seconds = time.monotonic() - started
    started = time.monotonic()
    await local.http.get("/.well-known/openid-configuration")
    fast_seconds = time.monotonic() - started

    assert slow.status_code == 200
    assert slow.json()["issuer"]
    assert slow_seconds >= 0.15
    assert fast_seconds < 0.15


async def test_method_must_match(local: LocalSandbox) -> None:
    await add_fault(local.http, path="/userinfo", method="POST", status=500)
    assert (await local.http.get("/userinfo")).status_code == 401
    assert (await local.http.post("/userinfo")).status_code == 500


async def test_count_null_lasts_until_cleared(local: LocalSandbox) -> None:
    await add_fault(local.http, path="/oauth/certs", status=503, count=None)
    statuses = [(await local.http.get("/oauth/certs")).status_code for _ in range(5)]
    assert statuses == [503] * 5

    cleared = await local.http.delete("/sandbox/faults")

    assert cleared.status_code == 204
    assert (await local.http.get("/oauth/certs")).status_code == 200


async def test_count_n_fires_n_times(local: LocalSandbox) -> None:
    await add_fault(local.http, path="/oauth/certs", status=500, count=3)
    statuses = [(await local.http.get("/oauth/certs")).status_code for _ in range(5)]
    assert statuses == [500, 500, 500, 200, 200]


async def test_control_paths_are_never_faulted(local: LocalSandbox) -> None:
    await add_fault(local.http, path="*", status=500)
    await add_fault(local.http, path="/sandbox/*", status=500)

    assert (await local.http.get("/oauth/certs")).status_code == 500
    listed = await local.http.get("/sandbox/faults")
    assert listed.status_code == 200
    assert [rule["path"] for rule in listed.json()["data"]] == ["*", "/sandbox/*"]
    assert (await local.http.put("/sandbox/oidc", json={"enabled": True})).status_code == 200
    assert (await local.http.delete("/sandbox/faults")).status_code == 204
    assert (await local.http.get("/oauth/certs")).status_code == 200


async def test_reset_clears_faults(local: LocalSandbox) -> None:
    await add_fault(local.http, path="/oauth/certs", status=500)
    local.sandbox.reset()
    assert (await local.http.get("/oauth/certs")).status_code == 200


async def test_a_list_of_rules_is_armed_all_or_nothing(local: LocalSandbox) -> None:
    bad = await local.http.post("/sandbox/faults", json=[{"path": "/a", "status": 500}, {"path": "nope"}])
    assert bad.status_code == 400
    assert local.sandbox.faults.active() == []

    good = await local.http.post("/sandbox/faults", json=[{"path": "/a", "status": 500}, {"path": "/b"}])
    assert good.status_code == 201
    assert [rule["path"] for rule in good.json()["data"]] == ["/a", "/b"]


@pytest.mark.parametrize(
    "content",
    [b"", b"{", b"null", b'{"path": "/x", "status": "oops"}', b'{"path": "/x", "count": 0}', b"[1]"],
)
async def test_bad_fault_json_is_a_400_with_a_json_error(local: LocalSandbox, content: bytes) -> None:
    response = await local.http.post(
        "/sandbox/faults", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] in {"invalid_json", "invalid_fault"}
    assert body["message"]
    assert local.sandbox.faults.active() == []


async def test_faults_from_the_shared_sandbox_are_gone_after_reset(sandbox: RunningSandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        await add_fault(http, path="/oauth/certs", status=500)
        assert (await http.get("/oauth/certs")).status_code == 500
        assert (await http.post("/sandbox/reset")).status_code in {200, 204}
        assert (await http.get("/oauth/certs")).status_code == 200
