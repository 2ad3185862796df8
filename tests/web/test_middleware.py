from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.web.middleware import CorsAndCsrf, SecurityHeaders
from app.web.middleware.cors_csrf import parse_origin
from app.web.middleware.headers import RawHeaders

OWN = "https://login.example.org"
FRONTEND = "https://app.example.org"
FOREIGN = "https://evil.example.net"
CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
HSTS = "max-age=31536000; includeSubDomains"
PAGE_CSP = "default-src 'none'; style-src 'self'"
CHUNKS = [b"one,", b"two,", b"three"]


async def json_route(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def html_route(request: Request) -> Response:
    return HTMLResponse("<p>Something went wrong.</p>")


async def page_with_own_policy(request: Request) -> Response:
    headers = {"Content-Security-Policy": PAGE_CSP, "Cache-Control": "private, max-age=60"}
    return HTMLResponse("<p>styled</p>", headers=headers)


async def weaker_frame_options(request: Request) -> Response:
    return JSONResponse({}, headers={"X-Frame-Options": "SAMEORIGIN", "Referrer-Policy": "unsafe-url"})


async def stream_route(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for chunk in CHUNKS:
            yield chunk

    return StreamingResponse(chunks(), media_type="text/plain")


async def failing_route(request: Request) -> Response:
    raise RuntimeError("boom")


async def internal_error(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": "internal_error", "message": "Something went wrong."}, status_code=500)


def build_app(*, hsts: bool = True, calls: list[str] | None = None) -> ASGIApp:
    """A small app wired as the backend is: both layers outside Starlette."""

    async def change_state(request: Request) -> Response:
        if calls is not None:
            calls.append(f"{request.method} {request.url.path}")
        return JSONResponse({"changed": True})

    starlette = Starlette(
        routes=[
            Route("/json", json_route),
            Route("/html", html_route),
            Route("/page", page_with_own_policy),
            Route("/weaker", weaker_frame_options),
            Route("/stream", stream_route),
            Route("/boom", failing_route),
            Route("/auth/logout", change_state, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            Route("/things", change_state, methods=["POST"]),
        ],
        exception_handlers={Exception: internal_error},
    )
    cors = CorsAndCsrf(starlette, own_origin=OWN, cors_origins=frozenset({FRONTEND}))
    return SecurityHeaders(cors, hsts=hsts)


def client(app: ASGIApp, **transport: Any) -> httpx.AsyncClient:
    # The failing route's exception is re-raised after its 500 answer, as under uvicorn.
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False, **transport), base_url=OWN
    )


# -- security headers ------------------------------------------------------------------------

ROUTE_KINDS = [("/json", 200), ("/html", 200), ("/stream", 200), ("/nowhere", 404), ("/boom", 500)]


@pytest.mark.parametrize(("path", "status"), ROUTE_KINDS)
async def test_every_route_kind_gets_every_security_header(path: str, status: int) -> None:
    async with client(build_app()) as http:
        response = await http.get(path)
    assert response.status_code == status
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["strict-transport-security"] == HSTS
    for name in ("cache-control", "content-security-policy", "x-frame-options"):
        assert len(response.headers.get_list(name)) == 1, name


@pytest.mark.parametrize(("path", "status"), ROUTE_KINDS)
async def test_no_hsts_when_cookies_are_not_secure(path: str, status: int) -> None:
    async with client(build_app(hsts=False)) as http:
        response = await http.get(path)
    assert response.status_code == status
    assert "strict-transport-security" not in response.headers
    assert response.headers["cache-control"] == "no-store"


async def test_a_routes_own_csp_and_cache_control_are_kept() -> None:
    async with client(build_app()) as http:
        response = await http.get("/page")
    assert response.headers.get_list("content-security-policy") == [PAGE_CSP]
    assert response.headers.get_list("cache-control") == ["private, max-age=60"]
    assert response.headers["x-frame-options"] == "DENY"


async def test_framing_and_referrer_rules_cannot_be_weakened_by_a_route() -> None:
    async with client(build_app()) as http:
        response = await http.get("/weaker")
    assert response.headers.get_list("x-frame-options") == ["DENY"]
    assert response.headers.get_list("referrer-policy") == ["no-referrer"]


async def test_a_streamed_body_arrives_whole() -> None:
    async with client(build_app()) as http:
        response = await http.get("/stream")
    assert response.content == b"".join(CHUNKS)
    assert response.headers["content-security-policy"] == CSP


async def call(app: ASGIApp, scope: Scope) -> list[Message]:
    """Drive `app` with one request and no body; the messages it sends, in order."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def http_scope(method: str = "GET", path: str = "/", headers: RawHeaders | None = None) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers or [],
        "server": ("login.example.org", 443),
        "client": ("127.0.0.1", 50000),
    }


async def streaming_app(scope: Scope, receive: Receive, send: Send) -> None:
    # Upper-case header names, as a careless app might send them.
    await send({"type": "http.response.start", "status": 200, "headers": [(b"Cache-Control", b"max-age=5")]})
    for chunk in CHUNKS:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def test_streaming_messages_pass_one_by_one_and_header_names_match_in_any_case() -> None:
    messages = await call(SecurityHeaders(streaming_app, hsts=False), http_scope())
    assert [m["type"] for m in messages] == ["http.response.start"] + ["http.response.body"] * 4
    assert [m["body"] for m in messages[1:]] == [*CHUNKS, b""]
    names = [name.lower() for name, _ in messages[0]["headers"]]
    assert names.count(b"cache-control") == 1
    assert (b"Cache-Control", b"max-age=5") in messages[0]["headers"]


async def test_lifespan_and_websocket_scopes_pass_through_untouched() -> None:
    seen: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])
        await send({"type": f"{scope['type']}.marker"})

    app = SecurityHeaders(CorsAndCsrf(inner, own_origin=OWN, cors_origins=frozenset()), hsts=True)
    for kind in ("lifespan", "websocket"):
        messages = await call(app, {"type": kind, "headers": [(b"origin", b"null")]})
        assert messages == [{"type": f"{kind}.marker"}]
    assert seen == ["lifespan", "websocket"]


# -- CORS ------------------------------------------------------------------------------------


def preflight(origin: str | list[str], method: str = "POST") -> list[tuple[str, str]]:
    origins = [origin] if isinstance(origin, str) else origin
    return [
        *(("Origin", value) for value in origins),
        ("Access-Control-Request-Method", method),
        ("Access-Control-Request-Headers", "x-requested-with, content-type"),
    ]


async def test_a_preflight_from_a_listed_origin_is_allowed_without_reaching_the_app() -> None:
    calls: list[str] = []
    async with client(build_app(calls=calls)) as http:
        response = await http.options("/auth/logout", headers=preflight(FRONTEND))
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == FRONTEND
    assert response.headers["access-control-allow-credentials"] == "true"
    methods = {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    assert methods == {"GET", "POST", "DELETE"}
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert allowed == {"x-requested-with", "content-type", "authorization"}
    assert int(response.headers["access-control-max-age"]) > 0
    assert "Origin" in response.headers["vary"]
    assert response.headers["cache-control"] == "no-store"
    assert calls == []


@pytest.mark.parametrize(
    "origin",
    [
        FOREIGN,
        "null",
        OWN,  # same-origin calls never need a preflight; the API is not offered to it cross-origin
        "http://app.example.org",  # another scheme is another origin
        "https://app.example.org:8443",
        "https://app.example.org.evil.example.net",
        "https://evil.example.net@app.example.org",
        "https://app.example.org/",
        "",
        [FRONTEND, FRONTEND],
        [FRONTEND, FOREIGN],
    ],
)
async def test_a_preflight_from_any_other_origin_is_refused(origin: str | list[str]) -> None:
    calls: list[str] = []
    async with client(build_app(calls=calls)) as http:
        response = await http.options("/auth/logout", headers=preflight(origin))
    assert response.status_code == 403
    assert response.json()["error"] == "cors_origin_denied"
    assert response.json()["message"]
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-credentials" not in response.headers
    assert calls == []


async def test_an_origin_is_compared_in_its_normal_form() -> None:
    async with client(build_app()) as http:
        response = await http.options("/auth/logout", headers=preflight("HTTPS://App.Example.ORG:443"))
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == FRONTEND


async def test_an_answer_to_a_listed_origin_carries_cors_headers() -> None:
    async with client(build_app()) as http:
        response = await http.get("/json", headers={"Origin": FRONTEND})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == FRONTEND
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "Origin" in response.headers["vary"]


@pytest.mark.parametrize("origin", [FOREIGN, "null", OWN, None])
async def test_an_answer_to_any_other_origin_carries_none(origin: str | None) -> None:
    headers = {"Origin": origin} if origin else {}
    async with client(build_app()) as http:
        response = await http.get("/json", headers=headers)
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-credentials" not in response.headers
    # A shared cache must not hand this answer to a listed origin, nor the other way round.
    assert "Origin" in response.headers["vary"]


async def test_vary_keeps_what_the_route_listed() -> None:
    async def varied(scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse("x", headers={"Vary": "Accept-Encoding"})(scope, receive, send)

    app = CorsAndCsrf(varied, own_origin=OWN, cors_origins=frozenset({FRONTEND}))
    async with client(app) as http:
        response = await http.get("/", headers={"Origin": FRONTEND})
    assert response.headers.get_list("vary") == ["Accept-Encoding", "Origin"]


# -- CSRF ------------------------------------------------------------------------------------

COOKIE = ("Cookie", "__Host-clever_session=abc")
XRW = ("X-Requested-With", "fetch")
BASIC = ("Authorization", "Basic c2VydmljZTpzZWNyZXQ=")


@pytest.mark.parametrize(
    ("method", "headers", "status", "error"),
    [
        # a cross-site form or fetch riding on the cookie
        ("POST", [("Origin", FOREIGN), COOKIE], 403, "csrf_header_missing"),
        ("POST", [("Origin", FRONTEND), COOKIE], 403, "csrf_header_missing"),
        ("POST", [("Origin", OWN), COOKIE], 403, "csrf_header_missing"),
        ("POST", [COOKIE], 403, "csrf_header_missing"),
        ("DELETE", [COOKIE], 403, "csrf_header_missing"),
        ("PUT", [COOKIE], 403, "csrf_header_missing"),
        ("PATCH", [COOKIE], 403, "csrf_header_missing"),
        # the header, but from where it may not come
        ("POST", [("Origin", FOREIGN), COOKIE, XRW], 403, "csrf_origin_denied"),
        ("POST", [("Origin", "null"), COOKIE, XRW], 403, "csrf_origin_denied"),
        ("POST", [("Origin", OWN), ("Origin", OWN), COOKIE, XRW], 403, "csrf_origin_denied"),
        ("DELETE", [("Origin", FOREIGN), COOKIE, XRW], 403, "csrf_origin_denied"),
        ("POST", [("Origin", FOREIGN), BASIC], 403, "csrf_origin_denied"),
        # what the frontend, the backend's own pages and service clients send
        ("POST", [("Origin", OWN), COOKIE, XRW], 200, None),
        ("POST", [("Origin", FRONTEND), COOKIE, XRW], 200, None),
        ("POST", [COOKIE, ("X-Requested-With", "")], 200, None),
        ("DELETE", [("Origin", FRONTEND), COOKIE, XRW], 200, None),
        ("POST", [BASIC], 200, None),
        ("POST", [("Authorization", "Bearer abc.def")], 200, None),
        ("POST", [], 200, None),
        # reading never changes state
        ("GET", [("Origin", FOREIGN), COOKIE], 200, None),
        ("GET", [("Origin", "null"), ("Origin", OWN), COOKIE], 200, None),
        ("HEAD", [("Origin", FOREIGN), COOKIE], 200, None),
    ],
)
async def test_csrf_checks_on_the_protected_prefix(
    method: str, headers: list[tuple[str, str]], status: int, error: str | None
) -> None:
    calls: list[str] = []
    async with client(build_app(calls=calls)) as http:
        response = await http.request(method, "/auth/logout", headers=headers)
    assert response.status_code == status
    if error is None:
        assert calls == [f"{method} /auth/logout"]
    else:
        assert response.json() == {"error": error, "message": response.json()["message"]}
        assert response.json()["message"]
        assert calls == []
        assert response.headers["cache-control"] == "no-store"


async def test_a_refusal_is_readable_by_a_listed_frontend() -> None:
    async with client(build_app()) as http:
        response = await http.post("/auth/logout", headers=[("Origin", FRONTEND), COOKIE])
    assert response.status_code == 403
    assert response.headers["access-control-allow-origin"] == FRONTEND


async def test_paths_outside_the_prefix_are_not_checked() -> None:
    calls: list[str] = []
    async with client(build_app(calls=calls)) as http:
        response = await http.post("/things", headers=[("Origin", FOREIGN), COOKIE])
    assert response.status_code == 200
    assert calls == ["POST /things"]


async def test_the_prefix_is_checked_below_a_proxys_root_path() -> None:
    calls: list[str] = []
    async with client(build_app(calls=calls), root_path="/login") as http:
        refused = await http.post("/login/auth/logout", headers=[COOKIE])
        allowed = await http.post("/login/auth/logout", headers=[COOKIE, XRW])
    assert refused.status_code == 403
    assert allowed.status_code == 200
    assert calls == ["POST /login/auth/logout"]


async def test_request_header_names_match_in_any_case() -> None:
    seen: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["path"])
        await JSONResponse({})(scope, receive, send)

    app = CorsAndCsrf(inner, own_origin=OWN, cors_origins=frozenset({FRONTEND}))
    refused = await call(app, http_scope("POST", "/auth/logout", [(b"Cookie", b"a=b"), (b"Origin", b"null")]))
    assert refused[0]["status"] == 403
    allowed = [(b"COOKIE", b"a=b"), (b"X-Requested-With", b"1"), (b"ORIGIN", FRONTEND.encode())]
    passed = await call(app, http_scope("POST", "/auth/logout", allowed))
    assert passed[0]["status"] == 200
    assert (b"access-control-allow-origin", FRONTEND.encode()) in passed[0]["headers"]
    assert seen == ["/auth/logout"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"https://app.example.org", "https://app.example.org"),
        (b"https://APP.example.org:443", "https://app.example.org"),
        (b"http://localhost:5173", "http://localhost:5173"),
        (b"null", None),
        (b"", None),
        (b"file://", None),
        (b"https://app.example.org/path", None),
        (b"https://app.example.org?x=1", None),
        (b"https://u@app.example.org", None),
        (b"https://app.example.org ", None),
        (b"https://app.example.org:99999", None),
        ("https://äpp.example.org".encode(), None),
    ],
)
def test_parse_origin(raw: bytes, expected: str | None) -> None:
    assert parse_origin(raw) == expected


def test_misconfigured_origins_fail_at_construction() -> None:
    with pytest.raises(ValueError, match="not an http"):
        CorsAndCsrf(build_app(), own_origin="login.example.org", cors_origins=frozenset())
