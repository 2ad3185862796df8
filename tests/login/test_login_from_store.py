"""Logins and refreshes from the district's roster copy: whole logins over real HTTP, the
backend, the sandbox and a real Redis, with the copy synced as the events worker syncs it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from app.clever import CleverClient
from app.crypto.keyring import Keyring
from app.roster.district_tokens import DistrictTokens
from app.roster.fieldpolicy import DEFAULT_STUDENT_FIELDS
from app.roster.store import RosterStore
from app.roster.sync import sync_district
from tests.conftest import BackendFactory, RunningSandbox
from tests.support.backend import SESSION_SECRET
from tests.support.browser import Browser, logged_in_principal
from tests.support.clever import count_requests, requests_seen, sandbox_clever
from tests.support.demo import KINDS, User, demo_user
from tests.support.roster_copy import mark_events_read
from tests.web.test_metrics import samples

# The backend's default ROSTER_MAX_EVENTS_LAG.
LAG = 120
REFRESH = {"X-Requested-With": "t"}


@dataclass
class Copies:
    """The districts' roster copies as the backend under test reads them (its secret, its prefix)."""

    redis: Redis
    prefix: str
    clever: CleverClient
    store: RosterStore
    tokens: DistrictTokens

    async def fresh(self, district_id: str) -> None:
        await self.synced(district_id)
        await mark_events_read(self.redis, self.prefix, district_id)

    async def synced(self, district_id: str, student_fields: frozenset[str] = DEFAULT_STUDENT_FIELDS) -> None:
        await sync_district(self.clever, self.tokens, self.store, district_id, student_fields=student_fields)


@pytest.fixture
async def copies(sandbox: RunningSandbox, redis: Redis, key_prefix: str) -> AsyncIterator[Copies]:
    keyring = Keyring.from_secret(SESSION_SECRET)
    async with sandbox_clever(sandbox.url, sandbox.config) as clever:
        tokens = DistrictTokens(redis, clever, sealing_key=keyring.district_token_sealing, prefix=key_prefix)
        yield Copies(redis, key_prefix, clever, RosterStore(redis, keyring, prefix=key_prefix), tokens)


async def fresh_copy_of(copies: Copies, sandbox: RunningSandbox, kind: str) -> User:
    """The first demo user of `kind`, their district's copy fresh, and Clever's data calls counted
    from here on."""
    user = demo_user(sandbox.sandbox.store, kind)
    await copies.fresh(user["district"])
    await count_requests(sandbox.url, "/v3.1/*")
    return user


def but_for_its_version(principal: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in principal.items() if name not in ("roster", "session")}


async def roster_sources(backend: str) -> dict[tuple[str, str, str], float]:
    async with httpx.AsyncClient() as http:
        exposition = (await http.get(f"{backend}/metrics")).text
    return {
        (labels["purpose"], labels["source"], labels["reason"]): value
        for key, value in samples(exposition, "roster_sources_total").items()
        if (labels := dict(key))
    }


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_a_login_from_a_fresh_copy_asks_clever_no_data_and_gets_the_live_principal(
    kind: str, sandbox: RunningSandbox, backend: str, copies: Copies
) -> None:
    user = demo_user(sandbox.sandbox.store, kind)
    live = await logged_in_principal(backend, user["id"])  # no copy yet: fetched live
    await copies.fresh(user["district"])
    await count_requests(sandbox.url, "/v3.1/*")

    stored = await logged_in_principal(backend, user["id"])

    assert await requests_seen(sandbox.url, "/v3.1/*") == 0
    assert but_for_its_version(stored) == but_for_its_version(live)
    assert live["roster"]["source"] == "live"
    assert "synced_at" not in live["roster"]
    assert stored["roster"]["source"] == "store"
    assert stored["roster"]["synced_at"] <= stored["roster"]["fetched_at"]
    counted = await roster_sources(backend)
    assert counted[("login", "live", "no_copy")] == 1
    assert counted[("login", "store", "none")] == 1
    assert counted[("login", "live", "stale")] == 0  # every label set shows from the start


async def test_a_stale_copy_is_not_used_and_the_metric_says_so(
    sandbox: RunningSandbox, backend: str, copies: Copies
) -> None:
    user = demo_user(sandbox.sandbox.store, "teacher")
    await copies.synced(user["district"])
    # The events worker stopped a while ago: its last read of the stream is older than the bound.
    await mark_events_read(copies.redis, copies.prefix, user["district"], at=time.time() - LAG - 60)
    await count_requests(sandbox.url, "/v3.1/*")

    principal = await logged_in_principal(backend, user["id"])

    assert principal["roster"]["source"] == "live"
    assert await requests_seen(sandbox.url, "/v3.1/*") == 3
    assert (await roster_sources(backend))[("login", "live", "stale")] == 1


async def test_a_person_created_since_the_last_sync_logs_in_live(
    sandbox: RunningSandbox, backend: str, copies: Copies
) -> None:
    store = sandbox.sandbox.store
    district_id = store.district_ids()[0]
    await copies.fresh(district_id)
    created = store.create_user(
        {
            "district": district_id,
            "name": {"first": "New", "last": "Teacher"},
            "roles": {"teacher": {"schools": []}},
        }
    )

    principal = await logged_in_principal(backend, created["id"])

    assert principal["user"]["id"] == created["id"]
    assert principal["roster"]["source"] == "live"
    assert (await roster_sources(backend))[("login", "live", "not_in_copy")] == 1


async def test_allowed_roles_apply_to_a_login_from_the_copy(
    sandbox: RunningSandbox, make_backend: BackendFactory, copies: Copies
) -> None:
    student = await fresh_copy_of(copies, sandbox, "student")
    with make_backend(ALLOWED_ROLES="teacher") as backend:
        async with Browser(backend) as browser:
            refused = await browser.login(student["id"])
            assert refused.response.status_code == 403
            assert "role_not_allowed" in refused.response.text
            assert (await browser.session()).status_code == 401
        assert (await roster_sources(backend))[("login", "store", "none")] == 1
    assert await requests_seen(sandbox.url, "/v3.1/*") == 0


async def test_a_refresh_reads_the_copy_while_it_is_fresh_and_clever_once_it_is_not(
    sandbox: RunningSandbox, backend: str, copies: Copies
) -> None:
    user = await fresh_copy_of(copies, sandbox, "teacher_staff")
    async with Browser(backend) as first, Browser(backend) as second:
        await first.login(user["id"])
        await second.login(user["id"])

        refreshed = await first.http.post(f"{backend}/auth/session/refresh", headers=REFRESH)

        assert refreshed.status_code == 200
        assert refreshed.json()["roster"]["source"] == "store"
        assert await requests_seen(sandbox.url, "/v3.1/*") == 0
        await mark_events_read(copies.redis, copies.prefix, user["district"], at=time.time() - LAG - 60)

        refreshed = await second.http.post(f"{backend}/auth/session/refresh", headers=REFRESH)

        assert refreshed.status_code == 200
        assert refreshed.json()["roster"]["source"] == "live"
        assert "synced_at" not in refreshed.json()["roster"]
        assert await requests_seen(sandbox.url, "/v3.1/*") == 3
    counted = await roster_sources(backend)
    assert counted[("refresh", "store", "none")] == 1
    assert counted[("refresh", "live", "stale")] == 1
    assert counted[("login", "store", "none")] == 2
