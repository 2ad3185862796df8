"""`POST /auth/districts/{district_id}/sync`: a service client asks the events worker for a full
sync of a district's roster copy; what Redis holds afterwards."""

from __future__ import annotations

import httpx
from redis.asyncio import Redis

from tests.conftest import BackendFactory, RunningSandbox
from tests.support.backend import SERVICE_NAME, SERVICE_SECRET

SERVICE = (SERVICE_NAME, SERVICE_SECRET)


def _request_key(key_prefix: str, district_id: str) -> str:
    return f"{key_prefix}ro:{{{district_id}}}:sync"


async def test_a_service_client_asks_for_a_sync_once_until_the_worker_takes_it(
    sandbox: RunningSandbox, backend: str, redis: Redis, key_prefix: str
) -> None:
    district = sandbox.sandbox.store.district_ids()[0]
    path = f"/auth/districts/{district}/sync"
    async with httpx.AsyncClient(base_url=backend) as service:
        no_auth = await service.post(path)
        wrong_secret = await service.post(path, auth=(SERVICE_NAME, "x" * 30))
        assert not await redis.exists(_request_key(key_prefix, district))
        first = await service.post(path, auth=SERVICE)
        second = await service.post(path, auth=SERVICE)
    for refused in (no_auth, wrong_secret):
        assert (refused.status_code, refused.json()["error"]) == (401, "unauthorized_client")
        assert refused.headers["www-authenticate"].startswith("Basic")
    assert (first.status_code, first.json()) == (202, {"district_id": district, "sync": "requested"})
    assert (second.status_code, second.json()) == (
        202,
        {"district_id": district, "sync": "already_requested"},
    )
    key = _request_key(key_prefix, district)
    assert await redis.exists(key)
    assert 0 < await redis.ttl(key) <= 24 * 3600


async def test_a_bad_unknown_or_not_allowed_district_is_refused_and_nothing_is_asked(
    sandbox: RunningSandbox, make_backend: BackendFactory, redis: Redis, key_prefix: str
) -> None:
    first, second = sandbox.sandbox.store.district_ids()[:2]
    with make_backend(ALLOWED_DISTRICTS=first) as backend:
        async with httpx.AsyncClient(base_url=backend) as service:
            bad = await service.post("/auth/districts/not%20an%20id!/sync", auth=SERVICE)
            too_long = await service.post(f"/auth/districts/{'a' * 65}/sync", auth=SERVICE)
            not_allowed = await service.post(f"/auth/districts/{second}/sync", auth=SERVICE)
    with make_backend() as backend:
        async with httpx.AsyncClient(base_url=backend) as service:
            unknown = await service.post(f"/auth/districts/{'0' * 24}/sync", auth=SERVICE)
    for answer in (bad, too_long):
        assert (answer.status_code, answer.json()["error"]) == (400, "invalid_district")
    assert (not_allowed.status_code, not_allowed.json()["error"]) == (403, "district_not_allowed")
    assert (unknown.status_code, unknown.json()["error"]) == (404, "district_not_found")
    assert [key async for key in redis.scan_iter(match=f"{key_prefix}ro:*")] == []
