from __future__ import annotations

import resource
import socket
from collections.abc import Iterator

import pytest

from app.serving.http_protocol import GuardedHttpToolsProtocol
from app.serving.server import (
    GRACEFUL_SHUTDOWN_SECONDS,
    REQUEST_TIMEOUT_SECONDS,
    PortInUseError,
    ServeOptions,
    listening_socket,
    log_config,
    raise_open_file_limit,
    uvicorn_options,
)


def test_production_defaults() -> None:
    options = uvicorn_options(ServeOptions())
    assert options["factory"] is True
    assert options["host"] == "127.0.0.1"
    assert options["server_header"] is False
    assert options["proxy_headers"] is True
    assert options["forwarded_allow_ips"] == "127.0.0.1"
    assert options["access_log"] is False
    assert options["lifespan"] == "on"
    assert options["timeout_graceful_shutdown"] == GRACEFUL_SHUTDOWN_SECONDS
    assert options["limit_concurrency"] is None
    assert options["timeout_keep_alive"] == 5
    assert REQUEST_TIMEOUT_SECONDS <= 10  # "an unfinished request is closed within 10 s"


def test_serve_speaks_http_through_the_guarded_protocol() -> None:
    protocol = uvicorn_options(ServeOptions(timeout_request=3))["http"]
    assert protocol.func is GuardedHttpToolsProtocol
    assert protocol.keywords == {"timeout_request": 3}


@pytest.fixture
def open_file_limit() -> Iterator[tuple[int, int]]:
    limits = resource.getrlimit(resource.RLIMIT_NOFILE)
    yield limits
    resource.setrlimit(resource.RLIMIT_NOFILE, limits)


def test_the_open_file_limit_is_raised_to_the_hard_limit(open_file_limit: tuple[int, int]) -> None:
    _, hard = open_file_limit
    if hard == resource.RLIM_INFINITY or hard < 512:
        pytest.skip(f"needs a finite hard limit on open files of at least 512, not {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    assert raise_open_file_limit() == hard
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)


def test_our_loggers_share_uvicorns_handler_and_level() -> None:
    config = log_config("warning")
    assert config["loggers"]["app"] == {"handlers": ["default"], "level": "WARNING", "propagate": False}
    assert log_config("warning", app_level="info")["loggers"]["app"]["level"] == "INFO"
    assert "app" not in log_config("info", app_level="debug")["handlers"]  # a copy, not uvicorn's own


def test_a_taken_port_is_reported_with_its_number() -> None:
    first = listening_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    try:
        with pytest.raises(PortInUseError) as caught:
            listening_socket("127.0.0.1", port)
        assert caught.value.port == port
        assert str(port) in str(caught.value)
    finally:
        first.close()


def test_the_socket_listens() -> None:
    sock = listening_socket("127.0.0.1", 0)
    try:
        with socket.create_connection(sock.getsockname(), timeout=2):
            pass
    finally:
        sock.close()
