"""`REDIS_URL` forms: what each parses to, what is refused (without repeating a password), and
the client each form gets (explicit timeouts, a bounded blocking pool)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import SentinelConnectionPool

from app.redis_client import (
    CONNECT_TIMEOUT,
    MAX_CONNECTIONS,
    POOL_TIMEOUT,
    SOCKET_TIMEOUT,
    RedisClient,
    RedisTarget,
    close_redis,
    create_redis,
    parse_redis_url,
)
from app.settings import SettingsError, load_settings
from tests.test_settings import GOOD

PASSWORD = "pa%40ss%3Aw%2Frd"  # "pa@ss:w/rd", percent-encoded as a URL needs it


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", RedisTarget("standalone", nodes=(("127.0.0.1", 6379),))),
        ("redis://redis.internal", RedisTarget("standalone", nodes=(("redis.internal", 6379),))),
        (
            f"rediss://app:{PASSWORD}@redis.internal:6380/2?ssl_cert_reqs=none",
            RedisTarget(
                "standalone",
                tls=True,
                nodes=(("redis.internal", 6380),),
                db=2,
                username="app",
                password="pa@ss:w/rd",
                ssl_cert_reqs="none",
            ),
        ),
        (
            "redis://h?db=3&socket_timeout=0.25",
            RedisTarget("standalone", nodes=(("h", 6379),), db=3, socket_timeout=0.25),
        ),
        ("unix:///run/redis.sock", RedisTarget("standalone", unix_path="/run/redis.sock")),
        (
            "unix://:pw@/run/redis.sock?db=1",
            RedisTarget("standalone", unix_path="/run/redis.sock", db=1, password="pw"),
        ),
        (
            "redis+sentinel://:pw@s1,s2:26380,[::1]/mymaster/1",
            RedisTarget(
                "sentinel",
                nodes=(("s1", 26379), ("s2", 26380), ("::1", 26379)),
                service_name="mymaster",
                db=1,
                password="pw",
            ),
        ),
        (
            "rediss+sentinel://s1,s2?service_name=cache&sentinel_password=spw&max_connections=50",
            RedisTarget(
                "sentinel",
                tls=True,
                nodes=(("s1", 26379), ("s2", 26379)),
                service_name="cache",
                sentinel_password="spw",
                max_connections=50,
            ),
        ),
        (
            "redis+cluster://n1:7001,n2:7002,n3",
            RedisTarget("cluster", nodes=(("n1", 7001), ("n2", 7002), ("n3", 6379))),
        ),
        (
            "rediss+cluster://u:pw@n1:7001/0?socket_timeout=2",
            RedisTarget(
                "cluster", tls=True, nodes=(("n1", 7001),), username="u", password="pw", socket_timeout=2.0
            ),
        ),
    ],
)
def test_url_forms(url: str, expected: RedisTarget) -> None:
    assert parse_redis_url(url) == expected


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("http://127.0.0.1:6379", "must be a redis://"),
        ("127.0.0.1:6379", "must be a redis://"),
        (f"redis://:{PASSWORD}@a,b", "names one host"),
        (f"redis+sentinel://:{PASSWORD}@s1:26379", "service name"),
        ("redis+sentinel://s1/my master", "service name"),
        ("redis+sentinel://s1/m/1?db=2", "given twice"),
        (f"redis+cluster://:{PASSWORD}@n1/1", "only database 0"),
        ("redis+cluster://n1?service_name=x", "only for redis\\+sentinel"),
        ("redis+cluster://n1?pool_timeout=2", "does not wait"),
        ("redis://h:70000", "port"),
        ("redis://h/0?socket_timeout=0", "between 0.01 and 60"),
        ("redis://h/0?max_connections=lots", "whole number"),
        ("redis://h/0?ssl_ca_certs=/ca.pem", "need a TLS scheme"),
        ("rediss://h/0?ssl_cert_reqs=maybe", "ssl_cert_reqs"),
        (f"redis://:{PASSWORD}@h/0?password=x", "unknown option 'password'"),
        ("unix://host/run/redis.sock", "socket path"),
        ("redis://h/0#frag", "fragment"),
    ],
)
def test_bad_urls_are_refused_without_repeating_them(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint) as refused:
        parse_redis_url(url)
    assert "pa%40ss" not in str(refused.value)
    assert "pa@ss" not in str(refused.value)


def test_settings_name_the_variable_and_never_the_password() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({**GOOD, "REDIS_URL": f"redis+sentinel://:{PASSWORD}@s1:26379"})
    assert refused.value.problems[0].startswith("REDIS_URL: ")
    assert "pa%40ss" not in str(refused.value)
    settings = load_settings({**GOOD, "REDIS_URL": f"redis+cluster://:{PASSWORD}@n1:7001,n2:7002"})
    assert "pa%40ss" not in repr(settings)


@contextlib.asynccontextmanager
async def created(url: str) -> AsyncIterator[RedisClient]:
    """The app's client for `url` (which nothing listens on: only the client is looked at), closed
    at the end."""
    client = create_redis(url)
    try:
        yield client
    finally:
        await close_redis(client)


async def test_a_standalone_client_has_explicit_timeouts_and_a_bounded_blocking_pool() -> None:
    async with created("redis://127.0.0.1:1/0") as client:
        assert isinstance(client, Redis)
        pool = client.connection_pool
        assert isinstance(pool, BlockingConnectionPool)
        assert pool.max_connections == MAX_CONNECTIONS
        assert pool.timeout == POOL_TIMEOUT
        assert pool.connection_kwargs["socket_timeout"] == SOCKET_TIMEOUT
        assert pool.connection_kwargs["socket_connect_timeout"] == CONNECT_TIMEOUT


async def test_a_sentinel_client_has_a_blocking_pool_that_follows_the_master() -> None:
    async with created("redis+sentinel://127.0.0.1:1/mymaster?max_connections=7&pool_timeout=0.5") as client:
        assert isinstance(client, Redis)
        pool = client.connection_pool
        assert isinstance(pool, SentinelConnectionPool)
        assert isinstance(pool, BlockingConnectionPool)
        assert (pool.max_connections, pool.timeout) == (7, 0.5)


async def test_a_cluster_client_has_explicit_timeouts() -> None:
    async with created("redis+cluster://127.0.0.1:1?socket_timeout=0.2&max_connections=9") as client:
        assert isinstance(client, RedisCluster)
        node = client.get_nodes()[0] if client.get_nodes() else None
        kwargs = client.nodes_manager.connection_kwargs
        assert kwargs["socket_timeout"] == 0.2
        assert node is None or node.max_connections == 9
