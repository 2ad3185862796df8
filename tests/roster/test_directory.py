"""The district directory (app.roster.directory) over a real Redis and the sandbox: the same
names from the district's roster copy as from the Data API, sealed, and filled by one caller."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from app.crypto.keyring import Keyring
from app.roster.directory import DistrictDirectory
from app.roster.fieldpolicy import DEFAULT_STUDENT_FIELDS
from tests.conftest import RunningSandbox
from tests.roster.test_store import Rig, make_rig
from tests.support.clever import count_requests, requests_seen


@pytest.fixture
async def rig(sandbox: RunningSandbox, redis: Redis, key_prefix: str) -> AsyncIterator[Rig]:
    async with make_rig(sandbox, redis, key_prefix) as made:
        yield made


def directory_of(rig: Rig, keyring: Keyring | None = None) -> DistrictDirectory:
    return DistrictDirectory(
        rig.redis, rig.clever, rig.tokens, rig.store, keyring=keyring or rig.keyring, prefix=rig.prefix
    )


async def test_the_copy_and_the_data_api_give_the_same_directory(rig: Rig) -> None:
    store = rig.sandbox.sandbox.store
    district_id = store.district_ids()[0]
    await count_requests(rig.sandbox.url, "/v3.1/*")
    live = await directory_of(rig).get(district_id)
    assert await requests_seen(rig.sandbox.url, "/v3.1/*") == 2  # the district, its schools

    await rig.redis.delete(directory_of(rig).key(district_id))
    await rig.sync(district_id, DEFAULT_STUDENT_FIELDS)
    async with httpx.AsyncClient(base_url=rig.sandbox.url) as http:
        (await http.delete("/sandbox/faults")).raise_for_status()
    await count_requests(rig.sandbox.url, "/v3.1/*")
    stored = await directory_of(rig).get(district_id)

    assert await requests_seen(rig.sandbox.url, "/v3.1/*") == 0
    assert stored == live
    assert live is not None
    district = store.district(district_id)
    assert district is not None
    assert (live.name, live.portal_url) == (district["name"], district["portal_url"])
    schools = {s["id"]: s["name"] for s in store.all("schools") if s["district"] == district_id}
    assert dict(live.schools) == schools


async def test_concurrent_misses_fill_the_entry_once_and_the_others_go_without(rig: Rig) -> None:
    district_id = rig.sandbox.sandbox.store.district_ids()[0]
    await count_requests(rig.sandbox.url, "/v3.1/districts/*")
    directories = [directory_of(rig) for _ in range(5)]  # as many replicas

    found = await asyncio.gather(*(directory.get(district_id) for directory in directories))

    assert await requests_seen(rig.sandbox.url, "/v3.1/districts/*") == 1
    assert sum(entry is not None for entry in found) >= 1
    assert all(entry == next(e for e in found if e is not None) for entry in found if entry is not None)
    assert await directories[0].get(district_id) is not None


async def test_an_entry_sealed_under_another_secret_is_filled_again(rig: Rig) -> None:
    district_id = rig.sandbox.sandbox.store.district_ids()[0]
    await directory_of(rig).get(district_id)
    rotated = directory_of(rig, Keyring.from_secret("another secret of at least thirty-two bytes"))
    await rig.redis.copy(directory_of(rig).key(district_id), rotated.key(district_id))
    await count_requests(rig.sandbox.url, "/v3.1/districts/*")

    assert await rotated.get(district_id) is not None
    assert await requests_seen(rig.sandbox.url, "/v3.1/districts/*") == 1
