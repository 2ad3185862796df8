"""The backend on a real Redis Cluster (three masters), through `REDIS_URL=redis+cluster://...`."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import RunningSandbox
from tests.reliability.conftest import LEFT_CONNECTIONS
from tests.support.backend import backend_on
from tests.support.demo import demo_user
from tests.support.redis_servers import RedisClusterGroup
from tests.support.session_flow import assert_ready, whole_session_life

pytestmark = pytest.mark.filterwarnings(LEFT_CONNECTIONS)

PREFIX = "cluster-test:"


@pytest.fixture
def cluster_backend(sandbox: RunningSandbox, cluster: RedisClusterGroup) -> Iterator[str]:
    with backend_on(sandbox, redis_url=cluster.url, key_prefix=PREFIX) as url:
        yield url


def keys_per_node(cluster: RedisClusterGroup) -> list[int]:
    counts = []
    for node in cluster.nodes:
        with node.client() as client:
            counts.append(sum(1 for _ in client.scan_iter(match=f"{PREFIX}*")))
    return counts


async def test_a_whole_session_life_works_on_a_cluster(
    sandbox: RunningSandbox, cluster: RedisClusterGroup, cluster_backend: str
) -> None:
    await assert_ready(cluster_backend)

    for kind in ("teacher", "student", "contact"):
        await whole_session_life(cluster_backend, demo_user(sandbox.sandbox.store, kind)["id"])

    # The keys of one login (transaction, session, user and district indexes, district token)
    # carry different hash tags: they really were spread over several masters.
    assert sum(1 for count in keys_per_node(cluster) if count) >= 2


async def test_with_every_seed_node_down_the_answer_is_503_not_500(
    sandbox: RunningSandbox, cluster: RedisClusterGroup
) -> None:
    dead = "redis+cluster://127.0.0.1:1,127.0.0.1:2?socket_connect_timeout=0.2"
    with backend_on(sandbox, redis_url=dead, key_prefix=PREFIX) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            ready = await http.get("/readyz")
            login = await http.get("/auth/login", headers={"Accept": "application/json"})
    assert ready.status_code == 503
    assert ready.json()["error"] == "redis_unavailable"
    assert login.status_code == 503
    assert login.json()["error"] == "store_unavailable"
