"""The Redis connection pool, with timeouts and retries set explicitly.

redis-py's defaults changed between releases (no socket timeout up to 7.x; ten retries from 8.1),
and either turns "Redis is down" into a long hang. Here a command gives up within about a second,
so the service answers 503 quickly and fails closed.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

SOCKET_TIMEOUT = 1.0
CONNECT_TIMEOUT = 1.0
MAX_CONNECTIONS = 200


def create_redis(url: str) -> Redis:
    return Redis.from_url(
        url,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=CONNECT_TIMEOUT,
        retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), retries=1),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=30,
        max_connections=MAX_CONNECTIONS,
    )
