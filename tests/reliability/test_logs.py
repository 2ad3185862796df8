"""Structured logs (the README's "Logs"): one JSON object per line, a request id on every line of a
request and on its answer, and nothing personal."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from app.cli import build_parser
from app.logs import REQUEST_ID, EventLimiter, JsonFormatter, LogFormat, TextFormatter, with_format
from app.serving.server import log_config
from app.web.middleware.request_id import RequestId
from tests.conftest import RunningSandbox
from tests.reliability.clever_faults import arm, log_in, user_record
from tests.support.browser import Browser
from tests.support.clock import Clock
from tests.support.demo import demo_user

FIELDS = ["time", "level", "logger", "message", "request_id", "event"]


@pytest.fixture
def app_log() -> Iterator[io.StringIO]:
    """What the `app` loggers write, as JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("app")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_record_is_one_json_line_with_the_fixed_fields_first(app_log: io.StringIO) -> None:
    token = REQUEST_ID.set("abc-123")
    try:
        logging.getLogger("app.test").warning("two\nlines", extra={"event": "thing_happened", "attempts": 3})
    finally:
        REQUEST_ID.reset(token)
    logging.getLogger("app.test").info("outside a request")
    first, second = lines(app_log)
    assert list(first)[: len(FIELDS)] == FIELDS
    assert first["level"] == "WARNING"
    assert first["logger"] == "app.test"
    assert first["message"] == "two\nlines"
    assert (first["request_id"], first["event"], first["attempts"]) == ("abc-123", "thing_happened", 3)
    assert str(first["time"]).endswith("+00:00")
    assert (second["request_id"], second["event"]) == (None, None)


def test_uvicorn_s_config_switches_to_json_and_back() -> None:
    original = log_config("info")
    config = with_format(original, "json")
    assert all(formatter == {"()": "app.logs.JsonFormatter"} for formatter in config["formatters"].values())
    assert config["loggers"] == original["loggers"]
    for changed in (config, with_format(original, "text")):
        # Only the access log's query-stripping filter is added (see the next test).
        assert {**changed["handlers"]["access"], "filters": []} == {
            **original["handlers"]["access"],
            "filters": [],
        }
        assert changed["handlers"]["default"] == original["handlers"]["default"]
    assert with_format(original, "text")["formatters"] == original["formatters"]
    assert log_config("info") == original  # the input is left alone
    # dictConfig builds a "()" formatter by calling it with the entry's other keys: none here.
    assert isinstance(JsonFormatter(), logging.Formatter)


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_the_access_log_never_carries_a_query_string(log_format: LogFormat) -> None:
    loggers = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    saved = [(lg.handlers[:], lg.level, lg.propagate, lg.disabled) for lg in loggers]
    stream = io.StringIO()
    try:
        logging.config.dictConfig(with_format(log_config("info"), log_format))
        access = logging.getLogger("uvicorn.access")
        for handler in access.handlers:
            assert isinstance(handler, logging.StreamHandler)
            handler.setStream(stream)
        # The call uvicorn's HTTP protocol makes for each answered request.
        access.info(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:50000",
            "GET",
            "/auth/callback?code=c0de-value&state=st4te-value",
            "1.1",
            302,
        )
    finally:
        for lg, (handlers, level, propagate, disabled) in zip(loggers, saved, strict=True):
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate, lg.disabled = propagate, disabled
    written = stream.getvalue()
    assert "GET /auth/callback HTTP/1.1" in written
    assert "c0de-value" not in written
    assert "st4te-value" not in written


def test_serve_logs_json_unless_told_otherwise() -> None:
    parser = build_parser()
    assert parser.parse_args(["serve"]).log_format == "json"
    assert parser.parse_args(["serve", "--log-format", "text"]).log_format == "text"
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--log-format", "xml"])


# -- the request id ----------------------------------------------------------------------------


async def echo(request: Request) -> Response:
    logging.getLogger("app.test").info("inside")
    return PlainTextResponse(str(REQUEST_ID.get()))


def client() -> httpx.AsyncClient:
    app = RequestId(Starlette(routes=[Route("/", echo)]))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.mark.parametrize("given", ["a1b2c3", "9f0e-1d2c.3b4a:5", "0" * 128])
async def test_a_sane_incoming_id_is_kept_and_echoed(given: str, app_log: io.StringIO) -> None:
    async with client() as http:
        answer = await http.get("/", headers={"X-Request-ID": given})
    assert answer.text == given
    assert answer.headers["x-request-id"] == given
    assert lines(app_log)[0]["request_id"] == given
    assert REQUEST_ID.get() is None


@pytest.mark.parametrize(
    "given",
    ["", "-leading-dash", "has space", 'quote"d', "semi;colon", "0" * 129, "é", "a\tb", "{json}"],
)
async def test_anything_else_is_replaced_by_a_fresh_id(given: str) -> None:
    async with client() as http:
        answer = await http.get("/", headers=[(b"X-Request-ID", given.encode("utf-8"))])
    made = answer.headers["x-request-id"]
    assert made != given
    assert len(made) == 32
    assert answer.text == made


async def test_two_ids_are_one_too_many() -> None:
    async with client() as http:
        answer = await http.get("/", headers=[("X-Request-ID", "first"), ("X-Request-ID", "second")])
    assert answer.headers["x-request-id"] not in ("first", "second")


async def test_each_request_gets_its_own_id() -> None:
    async with client() as http:
        ids = {(await http.get("/")).headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


async def test_a_failed_login_logs_its_request_id_and_no_personal_data(
    sandbox: RunningSandbox, backend: str, app_log: io.StringIO
) -> None:
    user = demo_user(sandbox.sandbox.store, "student")
    await arm(sandbox, user_record(str(user["id"])), method="GET", status=503, count=3)
    async with Browser(backend) as browser:
        answer = await log_in(browser, str(user["id"]))
    assert answer.status == 503
    request_id = answer.response.headers["x-request-id"]
    records = lines(app_log)
    failed = [record for record in records if record["event"] == "clever_error"]
    assert len(failed) == 1
    assert failed[0]["request_id"] == request_id
    assert (failed[0]["operation"], failed[0]["status"], failed[0]["attempts"]) == ("user", 503, 3)
    text = app_log.getvalue()
    for personal in (user["id"], user["name"]["first"], user["name"]["last"], user.get("email")):
        if personal:
            assert str(personal) not in text


def test_a_flood_of_one_event_writes_a_burst_then_a_line_a_second_saying_how_many_were_left_out() -> None:
    clock = Clock()
    limiter = EventLimiter(burst=3, per_second=1.0, clock=clock)
    assert [limiter.admit("login_rejected", "login_expired") for _ in range(5)] == [0, 0, 0, None, None]
    assert limiter.admit("login_rejected", "invalid_request") == 0  # each kind has its own rate
    clock.now += 1
    assert limiter.admit("login_rejected", "login_expired") == 2  # the two left out
    assert limiter.admit("login_rejected", "login_expired") is None
    clock.now += 100
    assert [limiter.admit("login_rejected", "login_expired") for _ in range(4)] == [1, 0, 0, None]


def test_a_text_line_carries_the_same_fields_as_a_json_one() -> None:
    record = logging.LogRecord("app.test", logging.INFO, __file__, 1, "events applied", None, None)
    record.event, record.district, record.applied = "events_applied", "d1", {"users.updated": 1}
    line = TextFormatter().format(record)
    assert (
        line
        == 'INFO app.test: events applied event="events_applied" district="d1" applied={"users.updated": 1}'
    )
    plain = logging.LogRecord("app.test", logging.INFO, __file__, 1, "plain", None, None)
    assert TextFormatter().format(plain) == "INFO app.test: plain"
