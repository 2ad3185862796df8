"""`REDIS_URL`: its forms, parsed in one place, and the client each form gets.

- `redis://[[user]:password@]host[:port][/db]`: one Redis (`rediss://`: over TLS);
- `unix://[[user]:password@]/path/to/redis.sock[?db=N]`: one Redis on a unix socket;
- `redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db]`: the master
  that Sentinel names `service`; the hosts are sentinels (port 26379 unless given);
- `redis+cluster://[[user]:password@]host[:port][,host[:port]...]`: a Redis Cluster; the hosts
  are seed nodes (port 6379 unless given).

`rediss+sentinel://` and `rediss+cluster://` use TLS. The user and password are those of the
Redis servers; sentinels that require their own take `?sentinel_username=&sentinel_password=`.
Other query options: `socket_timeout`, `socket_connect_timeout` (seconds), `max_connections`,
`pool_timeout` (seconds a command waits for a free connection), `service_name` (instead of the
path), `db`, and for TLS `ssl_ca_certs` (a file) and `ssl_cert_reqs` (`required`, `optional`, `none`).

redis-py's defaults changed between releases (no socket timeout up to 7.x; more retries from 8.1),
and either turns "Redis is down" into a long hang. Here every timeout is explicit and a failed
command is tried once more, so it gives up after about `(RETRIES + 1) × (socket_connect_timeout
+ socket_timeout)`: the service answers 503 quickly and fails closed. Standalone and Sentinel
clients use one blocking pool: when every connection is busy a command waits up to
`pool_timeout` for one instead of opening more. The Cluster client keeps `max_connections` per
node and fails (503) beyond it; redis-py has no blocking pool for Cluster.
"""

from __future__ import annotations

import contextlib
import math
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

# What the app's code takes wherever it talks to Redis: either client has every command it uses
# (see the module docstring of app.sessions.store for the Cluster-safe key layout).
RedisClient: TypeAlias = Redis | RedisCluster
RedisPipeline: TypeAlias = Pipeline | ClusterPipeline
# Commands one store queues on a pipeline another store executes: two writes, one round trip.
Queued: TypeAlias = Callable[[RedisPipeline], object]
# What every key the service writes starts with unless REDIS_KEY_PREFIX says otherwise.
KEY_PREFIX = "cl:"
# What a failing Redis raises: a cluster with no reachable node raises RedisClusterException,
# which is not a RedisError.
REDIS_ERRORS: tuple[type[Exception], ...] = (RedisError, RedisClusterException)

N = TypeVar("N", int, float)

SOCKET_TIMEOUT = 1.0
CONNECT_TIMEOUT = 1.0
MAX_CONNECTIONS = 200
POOL_TIMEOUT = 1.0
RETRIES = 1
HEALTH_CHECK_INTERVAL = 30
MASTER_CHECK_SECONDS = 0.5
SENTINEL_PORT = 26379
REDIS_PORT = 6379

Kind = Literal["standalone", "sentinel", "cluster"]
_SCHEMES: dict[str, tuple[Kind, bool]] = {
    "redis": ("standalone", False),
    "rediss": ("standalone", True),
    "unix": ("standalone", False),
    "redis+sentinel": ("sentinel", False),
    "rediss+sentinel": ("sentinel", True),
    "redis+cluster": ("cluster", False),
    "rediss+cluster": ("cluster", True),
}
_CERT_REQS = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}
_OPTIONS = frozenset(
    {
        "db",
        "service_name",
        "socket_timeout",
        "socket_connect_timeout",
        "max_connections",
        "pool_timeout",
        "sentinel_username",
        "sentinel_password",
        "ssl_ca_certs",
        "ssl_cert_reqs",
    }
)
_SERVICE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """A parsed `REDIS_URL`. Its `repr` leaves the passwords out."""

    kind: Kind
    tls: bool = False
    # standalone: the server; sentinel: the sentinels; cluster: the seed nodes
    nodes: tuple[tuple[str, int], ...] = ()
    unix_path: str | None = None
    db: int = 0
    service_name: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_username: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)
    socket_timeout: float = SOCKET_TIMEOUT
    socket_connect_timeout: float = CONNECT_TIMEOUT
    max_connections: int = MAX_CONNECTIONS
    pool_timeout: float = POOL_TIMEOUT
    ssl_ca_certs: str | None = None
    ssl_cert_reqs: str = "required"


def parse_redis_url(raw: str) -> RedisTarget:
    """Read a `REDIS_URL`. ValueError says what is wrong, never repeating the URL (it may hold a password)."""
    text = raw.strip()
    scheme = text.partition("://")[0].lower()
    if "://" not in text or scheme not in _SCHEMES:
        raise ValueError(
            "must be a redis://, rediss://, unix://, redis+sentinel://, rediss+sentinel://, "
            "redis+cluster:// or rediss+cluster:// URL"
        )
    kind, tls = _SCHEMES[scheme]
    parts = urlsplit(text)
    if parts.fragment:
        raise ValueError("must not have a #fragment")
    netloc, path, query = parts.netloc, parts.path, parts.query
    options = _query_options(query)
    userinfo, at, hosts = netloc.rpartition("@")
    username, password = _credentials(userinfo) if at else (None, None)
    common: dict[str, Any] = {
        "kind": kind,
        "tls": tls,
        "username": username,
        "password": password,
        "socket_timeout": _seconds(options, "socket_timeout", SOCKET_TIMEOUT),
        "socket_connect_timeout": _seconds(options, "socket_connect_timeout", CONNECT_TIMEOUT),
        "max_connections": _count(options, "max_connections", MAX_CONNECTIONS),
        "pool_timeout": _seconds(options, "pool_timeout", POOL_TIMEOUT),
        "ssl_ca_certs": options.get("ssl_ca_certs"),
        "ssl_cert_reqs": _cert_reqs(options.get("ssl_cert_reqs", "required")),
    }
    if (common["ssl_ca_certs"] or "ssl_cert_reqs" in options) and not tls:
        raise ValueError("ssl_ca_certs and ssl_cert_reqs need a TLS scheme (rediss...)")
    if kind != "sentinel" and ({"service_name", "sentinel_username", "sentinel_password"} & options.keys()):
        raise ValueError("service_name and sentinel_* options are only for redis+sentinel:// URLs")

    if scheme == "unix":
        if hosts:
            raise ValueError("a unix:// URL names a socket path, not a host: unix:///path/to/redis.sock")
        if not path.startswith("/") or len(path) < 2:
            raise ValueError("a unix:// URL needs an absolute socket path: unix:///path/to/redis.sock")
        return RedisTarget(unix_path=unquote(path), db=_db(options.get("db", "0")), **common)

    default_port = SENTINEL_PORT if kind == "sentinel" else REDIS_PORT
    nodes = _hosts(hosts, default_port)
    segments = [unquote(part) for part in path.split("/") if part]
    if kind == "standalone":
        if len(nodes) != 1:
            raise ValueError(
                f"{scheme}:// names one host; use redis+sentinel:// or redis+cluster:// for several"
            )
        if len(segments) > 1 or ("db" in options and segments):
            raise ValueError("the path is the database number: redis://host:6379/0")
        return RedisTarget(
            nodes=nodes, db=_db(options.get("db") or (segments[0] if segments else "0")), **common
        )
    if kind == "cluster":
        if segments not in ([], ["0"]) or options.get("db", "0") != "0":
            raise ValueError("a Redis Cluster has only database 0")
        if "pool_timeout" in options:
            raise ValueError("pool_timeout is for one Redis or Sentinel: a Cluster node's pool does not wait")
        return RedisTarget(nodes=nodes, **common)

    # sentinel: /service_name[/db], or ?service_name=
    if "service_name" in options:
        if len(segments) > 1 or ("db" in options and segments):
            raise ValueError("with ?service_name= the path is only the database number")
        service_name, db_text = (
            options["service_name"],
            options.get("db") or (segments[0] if segments else "0"),
        )
    else:
        if not segments or len(segments) > 2:
            raise ValueError(
                "needs the master's service name: redis+sentinel://host:26379[,host:26379...]/mymaster[/db]"
            )
        if len(segments) == 2 and "db" in options:
            raise ValueError("the database number is given twice")
        service_name = segments[0]
        db_text = options.get("db") or (segments[1] if len(segments) == 2 else "0")
    if not _SERVICE_NAME.match(service_name):
        raise ValueError("the service name must be 1-128 letters, digits or . _ -")
    return RedisTarget(
        nodes=nodes,
        service_name=service_name,
        db=_db(db_text),
        sentinel_username=options.get("sentinel_username"),
        sentinel_password=options.get("sentinel_password"),
        **common,
    )


def create_redis(url: str) -> RedisClient:
    """The app's one Redis client for `url`. Nothing connects until the first command."""
    target = parse_redis_url(url)
    if target.kind == "cluster":
        return _cluster(target)
    if target.kind == "sentinel":
        return _sentinel_master(target)
    return Redis.from_pool(_standalone_pool(target))


# -- building clients ---------------------------------------------------------------------------


def _retry() -> Retry:
    return Retry(ExponentialBackoff(cap=0.05, base=0.01), retries=RETRIES)


def _connection_kwargs(target: RedisTarget) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "username": target.username,
        "password": target.password,
        "socket_timeout": target.socket_timeout,
        "socket_connect_timeout": target.socket_connect_timeout,
        "retry": _retry(),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
        "health_check_interval": HEALTH_CHECK_INTERVAL,
    }
    if target.kind != "cluster":
        kwargs["db"] = target.db
    return kwargs


def _tls_kwargs(target: RedisTarget) -> dict[str, Any]:
    return {
        "ssl_ca_certs": target.ssl_ca_certs,
        "ssl_cert_reqs": _CERT_REQS[target.ssl_cert_reqs],
        # A certificate that is not checked names no host to check.
        "ssl_check_hostname": target.ssl_cert_reqs == "required",
    }


def _standalone_pool(target: RedisTarget) -> BlockingConnectionPool:
    kwargs = _connection_kwargs(target)
    if target.unix_path is not None:
        kwargs.update(connection_class=UnixDomainSocketConnection, path=target.unix_path)
    else:
        host, port = target.nodes[0]
        kwargs.update(host=host, port=port)
        if target.tls:
            kwargs.update(connection_class=SSLConnection, **_tls_kwargs(target))
    return BlockingConnectionPool(
        max_connections=target.max_connections, timeout=target.pool_timeout, **kwargs
    )


class _SentinelBlockingPool(SentinelConnectionPool, BlockingConnectionPool):
    """Connections to whichever server Sentinel names master, from a bounded, blocking pool.

    redis-py asks Sentinel for the master only when it opens a connection. After a planned
    failover the old master keeps accepting writes for seconds, until Sentinel demotes it, and
    whatever it took then is lost: so at most every `MASTER_CHECK_SECONDS` a command first asks
    Sentinel again, and a connection to any other server is reopened to the master.
    """

    _checked_at = -math.inf

    async def get_connection(self, command_name: Any = None, *keys: Any, **options: Any) -> Any:
        now = time.monotonic()
        if now - self._checked_at >= MASTER_CHECK_SECONDS:
            self._checked_at = now
            # A changed address closes the idle connections to the old master (redis-py).
            with contextlib.suppress(RedisError):  # sentinels unreachable: keep the master we know
                await self.get_master_address()  # type: ignore[no-untyped-call]
        connection = await super().get_connection()  # type: ignore[no-untyped-call]
        master = self.master_address
        if (
            master is not None
            and connection.is_connected
            and (connection.host, connection.port) != tuple(master)
        ):
            try:
                await connection.disconnect()
                await self.ensure_connection(connection)
            except BaseException:
                await self.release(connection)
                raise
        return connection


def _sentinel_master(target: RedisTarget) -> Redis:
    sentinel_kwargs: dict[str, Any] = {
        "socket_timeout": target.socket_timeout,
        "socket_connect_timeout": target.socket_connect_timeout,
        "username": target.sentinel_username,
        "password": target.sentinel_password,
    }
    data_kwargs = _connection_kwargs(target)
    if target.tls:
        sentinel_kwargs.update(ssl=True, **_tls_kwargs(target))
        data_kwargs.update(ssl=True, **_tls_kwargs(target))
    sentinel = Sentinel(list(target.nodes), sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
    assert target.service_name is not None
    client: Redis = sentinel.master_for(
        target.service_name,
        connection_pool_class=_SentinelBlockingPool,
        max_connections=target.max_connections,
        timeout=target.pool_timeout,
        **data_kwargs,
    )
    return client


async def close_redis(client: RedisClient) -> None:
    """Close `client` and every connection it opened (for Sentinel, also those to the sentinels)."""
    pool = getattr(client, "connection_pool", None)
    try:
        await client.aclose()
    finally:
        # A Sentinel client's pool does not own the connections to the sentinels.
        if isinstance(pool, SentinelConnectionPool):
            for sentinel in pool.sentinel_manager.sentinels:
                await sentinel.aclose()


def _cluster(target: RedisTarget) -> RedisCluster:
    kwargs = _connection_kwargs(target)
    # The Cluster client retries a failed command itself, after asking the cluster for its
    # topology again; its nodes' connections must not retry underneath it.
    kwargs.pop("retry_on_error")
    if target.tls:
        kwargs.update(ssl=True, **_tls_kwargs(target))
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
        max_connections=target.max_connections,
        require_full_coverage=True,
        **kwargs,
    )


# -- parsing helpers ----------------------------------------------------------------------------


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    user, colon, password = userinfo.partition(":")
    return (unquote(user) or None, unquote(password) if colon and password else None)


def _hosts(text: str, default_port: int) -> tuple[tuple[str, int], ...]:
    if not text:
        raise ValueError("names no host")
    nodes = []
    for part in text.split(","):
        parsed = urlsplit(f"//{part.strip()}")
        try:
            port = parsed.port or default_port
        except ValueError:
            raise ValueError("a port is not a number between 1 and 65535") from None
        if not parsed.hostname or parsed.username is not None:
            raise ValueError(
                "each host is host[:port], separated by commas (credentials go before the first)"
            )
        nodes.append((parsed.hostname, port))
    return tuple(nodes)


def _query_options(query: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for name, values in parse_qs(query, keep_blank_values=True).items():
        if name not in _OPTIONS:
            raise ValueError(f"unknown option {name!r} (known: {', '.join(sorted(_OPTIONS))})")
        if len(values) != 1 or not values[0]:
            raise ValueError(f"option {name!r} needs exactly one value")
        options[name] = values[0]
    return options


def _seconds(options: dict[str, str], name: str, default: float) -> float:
    return _number(options, name, default, float, "a number of seconds", (0.01, 60), " seconds")


def _count(options: dict[str, str], name: str, default: int) -> int:
    return _number(options, name, default, int, "a whole number", (1, 10_000), "")


def _number(
    options: dict[str, str],
    name: str,
    default: N,
    parse: Callable[[str], N],
    what: str,
    bounds: tuple[float, float],
    unit: str,
) -> N:
    """The option `name` read with `parse`, within `bounds`; `default` when it is not given."""
    if name not in options:
        return default
    try:
        value = parse(options[name])
    except ValueError:
        raise ValueError(f"{name} must be {what}") from None
    low, high = bounds
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name} must be between {low:g} and {high:g}{unit}")
    return value


def _db(text: str) -> int:
    if not text.isdigit() or len(text) > 5:
        raise ValueError("the database number must be a whole number (0 unless you chose another)")
    return int(text)


def _cert_reqs(text: str) -> str:
    if text not in _CERT_REQS:
        raise ValueError(f"ssl_cert_reqs must be one of {', '.join(_CERT_REQS)}")
    return text
