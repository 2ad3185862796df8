"""The district directory in whole logins (README, "The district directory"): the Principal
names the person's district and schools and the district's Clever Portal; from the district's
roster copy that costs no Clever call, live it costs calls on the district's first login only,
and a directory that cannot be had never fails a login."""

from __future__ import annotations

from typing import Any

import httpx
from redis.asyncio import Redis

from clever_sandbox.store import SandboxStore
from tests.clever.sandbox_control import add_fault
from tests.conftest import BackendFactory, RunningSandbox
from tests.login.test_library_logins import library_login
from tests.login.test_login_from_store import Copies, copies  # noqa: F401  (the fixture)
from tests.support.browser import Browser, logged_in_principal
from tests.support.clever import count_requests, requests_seen
from tests.support.demo import User, demo_user

DISTRICT_CALLS = "/v3.1/districts/*"
SCHOOL_CALLS = "/v3.1/schools"


def expected_district(store: SandboxStore, user: User) -> dict[str, Any]:
    """What the Principal should say of the district of `user`, from the sandbox's records."""
    district = store.district(user["district"])
    assert district is not None
    names = {school["id"]: school["name"] for school in store.all("schools")}
    named = {section["school"] for section in store.roster.sections_of_user(user)}
    for role in user["roles"].values():
        named.update(role.get("schools", []))
        if isinstance(role.get("school"), str):
            named.add(role["school"])
    return {
        "id": district["id"],
        "name": district["name"],
        "portal_url": district["portal_url"],
        "schools": {school: names[school] for school in sorted(named) if school in names},
    }


async def count_directory_calls(sandbox: RunningSandbox) -> None:
    await count_requests(sandbox.url, DISTRICT_CALLS)
    await count_requests(sandbox.url, SCHOOL_CALLS)


async def directory_calls(sandbox: RunningSandbox) -> int:
    return await requests_seen(sandbox.url, DISTRICT_CALLS) + await requests_seen(sandbox.url, SCHOOL_CALLS)


async def test_a_login_from_the_copy_names_district_and_schools_without_a_clever_call(
    sandbox: RunningSandbox,
    backend: str,
    copies: Copies,  # noqa: F811
) -> None:
    store = sandbox.sandbox.store
    teacher = demo_user(store, "teacher")
    await copies.fresh(teacher["district"])
    await count_requests(sandbox.url, "/v3.1/*")

    principal = await logged_in_principal(backend, teacher["id"])

    assert await requests_seen(sandbox.url, "/v3.1/*") == 0
    assert principal["roster"]["source"] == "store"
    assert principal["district"] == expected_district(store, teacher)
    assert principal["district"]["schools"]  # a teacher's sections name their school
    assert set(principal["district"]["schools"]) == {s["school"] for s in principal["sections"]} | set(
        principal["roles"]["teacher"]["schools"]
    )
    assert principal["district"]["portal_url"].startswith("https://")


async def test_a_live_login_fetches_the_directory_on_the_districts_first_login_only(
    sandbox: RunningSandbox, backend: str
) -> None:
    store = sandbox.sandbox.store
    teacher, student = demo_user(store, "teacher"), demo_user(store, "student")
    assert teacher["district"] == student["district"]
    await count_directory_calls(sandbox)

    first = await logged_in_principal(backend, teacher["id"])
    first_calls = await directory_calls(sandbox)
    second = await logged_in_principal(backend, student["id"])
    again = await logged_in_principal(backend, teacher["id"])

    assert first["roster"]["source"] == "live"
    assert first["district"] == expected_district(store, teacher)
    assert second["district"] == expected_district(store, student)
    assert again["district"] == first["district"]
    assert await requests_seen(sandbox.url, DISTRICT_CALLS) == 1
    assert first_calls == 2  # the district, and its schools in one page
    assert await directory_calls(sandbox) == first_calls  # none for the later logins


async def test_a_directory_that_cannot_be_had_leaves_the_login_without_names(
    sandbox: RunningSandbox, backend: str
) -> None:
    teacher = demo_user(sandbox.sandbox.store, "teacher")
    await add_fault(sandbox.url, DISTRICT_CALLS, status=500, count=None)

    async with Browser(backend) as browser:
        landed = await browser.login(teacher["id"])
        assert landed.response.status_code == 302, landed.response.text
        answer = await browser.session()

    assert answer.status_code == 200
    principal = answer.json()
    assert principal["user"]["id"] == teacher["id"]
    assert principal["user"]["district"] == teacher["district"]
    assert principal["sections"]
    assert "district" not in principal
    assert "unavailable" not in principal["roster"]  # the roster itself is whole


async def test_a_failed_directory_fetch_is_not_tried_again_at_every_login(
    sandbox: RunningSandbox, backend: str
) -> None:
    store = sandbox.sandbox.store
    teacher, student = demo_user(store, "teacher"), demo_user(store, "student")
    await add_fault(sandbox.url, DISTRICT_CALLS, status=404, count=100)

    await logged_in_principal(backend, teacher["id"])
    tried = 100 - await _remaining(sandbox, DISTRICT_CALLS)
    await logged_in_principal(backend, student["id"])

    assert tried == 1  # a 404 is not retried
    assert 100 - await _remaining(sandbox, DISTRICT_CALLS) == tried  # the lock holds the next try off


async def _remaining(sandbox: RunningSandbox, path: str) -> int:
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        rules = (await http.get("/sandbox/faults")).json()["data"]
    return int(next(rule["count"] for rule in rules if rule["path"] == path))


async def test_the_error_page_offers_the_way_back_to_the_districts_portal(
    sandbox: RunningSandbox, make_backend: BackendFactory
) -> None:
    store = sandbox.sandbox.store
    student = demo_user(store, "student")
    district = store.district(student["district"])
    assert district is not None
    with make_backend(ALLOWED_ROLES="teacher") as backend:
        async with Browser(backend) as browser:
            refused = await browser.login(student["id"])

    assert refused.response.status_code == 403
    assert "role_not_allowed" in refused.response.text
    assert f'href="{district["portal_url"]}">Back to Clever</a>' in refused.response.text


async def test_an_error_before_the_district_is_known_offers_no_portal(
    sandbox: RunningSandbox, backend: str
) -> None:
    async with Browser(backend) as browser:
        refused = await browser.get(f"{backend}/auth/callback?error=access_denied")

    assert "login_cancelled" in refused.response.text
    assert "Back to Clever" not in refused.response.text


async def test_a_library_login_has_no_directory(
    sandbox: RunningSandbox, make_backend: BackendFactory, redis: Redis, key_prefix: str
) -> None:
    await count_directory_calls(sandbox)
    with make_backend(LIBRARY_LOGINS="accept") as backend:
        principal = await logged_in_principal(
            backend, library_login(sandbox.sandbox.store, "Library teacher")
        )

    assert principal["user"]["district"] is None
    assert "district" not in principal
    assert await directory_calls(sandbox) == 0
    assert not [key async for key in redis.scan_iter(match=f"{key_prefix}dir:*")]


async def test_the_directory_is_kept_sealed_for_a_day(
    sandbox: RunningSandbox, backend: str, redis: Redis, key_prefix: str
) -> None:
    store = sandbox.sandbox.store
    teacher = demo_user(store, "teacher")
    district = store.district(teacher["district"])
    assert district is not None

    await logged_in_principal(backend, teacher["id"])

    keys = [key async for key in redis.scan_iter(match=f"{key_prefix}dir:*")]
    assert len(keys) == 1  # the entry; the lock is released once it is filled
    assert 23 * 3600 < await redis.ttl(keys[0]) <= 24 * 3600
    value = await redis.get(keys[0])
    assert isinstance(value, bytes)
    assert district["id"].encode() not in keys[0]
    assert district["name"].encode() not in value
