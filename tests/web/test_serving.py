from __future__ import annotations

import socket

import pytest

from app.web.serving import (
    GRACEFUL_SHUTDOWN_SECONDS,
    PortInUseError,
    ServeOptions,
    listening_socket,
    log_config,
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
