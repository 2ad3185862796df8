"""The control API's resources and district disconnection, and the newest event."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from clever_sandbox.config import EndingBeforeLast, SandboxConfig
from clever_sandbox.store import SandboxStore
from tests.conftest import RunningSandbox
from tests.sandbox.asgi import local_sandbox


async def _types(http: httpx.AsyncClient, after: str | None) -> list[str]:
    params = {"starting_after": after} if after else {}
    page = (await http.get("/v3.1/events", params=params)).json()
    return [item["data"]["type"] for item in page["data"]]


async def test_resources_are_created_shared_changed_and_deleted(
    http: httpx.AsyncClient, store: SandboxStore
) -> None:
    section = store.all("sections")[0]
    student = section["students"][0]
    before = store.events()[-1]["id"] if store.events() else None
    made = await http.post(
        "/sandbox/resources",
        json={"title": "Atlas", "roles": ["student"], "sections": [section["id"]], "users": []},
    )
    assert made.status_code == 201
    resource = made.json()
    assert "sections" not in resource
    assert (resource["title"], resource["district"]) == ("Atlas", store.district_ids()[0])
    users = (await http.get(f"/v3.1/resources/{resource['id']}/users")).json()["data"]
    assert student in {item["data"]["id"] for item in users}

    unchanged = await http.patch(f"/sandbox/resources/{resource['id']}", json={"sections": [section["id"]]})
    assert unchanged.status_code == 200
    unshared = await http.patch(f"/sandbox/resources/{resource['id']}", json={"sections": []})
    assert unshared.status_code == 200
    assert (await http.get(f"/v3.1/resources/{resource['id']}/users")).json()["data"] == []
    assert (await http.delete(f"/sandbox/resources/{resource['id']}")).status_code == 204
    assert (await http.get(f"/v3.1/resources/{resource['id']}")).status_code == 404
    assert await _types(http, before) == ["resources.created", "resources.updated", "resources.deleted"]

    bad = await http.post("/sandbox/resources", json={"title": "X", "roles": ["admin"]})
    assert bad.status_code == 400
    unknown = await http.post("/sandbox/resources", json={"title": "X", "roles": [], "sections": ["nope"]})
    assert unknown.status_code == 400


@contextlib.asynccontextmanager
async def _events_client(mode: EndingBeforeLast) -> AsyncIterator[tuple[httpx.AsyncClient, SandboxStore]]:
    """A sandbox in this `events_ending_before_last` mode, and its main district's events reader."""
    async with local_sandbox(SandboxConfig(events_ending_before_last=mode)) as local:
        store = local.sandbox.store
        token = local.sandbox.tokens.district_token(store.district_ids()[0], local.config.client_id)
        local.http.headers["Authorization"] = f"Bearer {token}"
        for first in ("A", "B"):
            user = store.all("users")[0]
            changed = await local.http.patch(f"/sandbox/users/{user['id']}", json={"name": {"first": first}})
            assert changed.status_code == 200
        yield local.http, store


async def test_ending_before_last_answers_the_newest_event_when_so_configured() -> None:
    async with _events_client("answered") as (http, store):
        page = (await http.get("/v3.1/events", params={"ending_before": "last", "limit": 1})).json()
        assert [item["data"]["id"] for item in page["data"]] == [store.events()[-1]["id"]]
        two = (await http.get("/v3.1/events", params={"ending_before": "last", "limit": 2})).json()
        assert [item["data"]["id"] for item in two["data"]] == [event["id"] for event in store.events()[-2:]]


@pytest.mark.parametrize("version", ["v3.0", "v3.1"])
async def test_ending_before_last_is_refused_by_default_as_a_bad_paging_parameter(version: str) -> None:
    async with _events_client("refused") as (http, store):
        refused = await http.get(f"/{version}/events", params={"ending_before": "last", "limit": 1})
        assert refused.status_code == 400
        assert refused.json() == {"message": "invalid ending_before: 'last'; expected an event id"}
        # An event id is a paging parameter like any other.
        newest = store.events()[-1]["id"]
        before = (await http.get(f"/{version}/events", params={"ending_before": newest})).json()
        assert [item["data"]["id"] for item in before["data"]] == [
            event["id"] for event in store.events()[:-1]
        ]


async def test_a_district_that_disconnects_revokes_its_token(
    sandbox: RunningSandbox, store: SandboxStore
) -> None:
    second = store.district_ids()[1]
    token = sandbox.sandbox.tokens.district_token(second, sandbox.config.client_id)
    auth = (sandbox.config.client_id, sandbox.config.client_secret)
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        assert (await http.delete(f"/sandbox/districts/{second}")).status_code == 204
        assert (await http.delete(f"/sandbox/districts/{second}")).status_code == 404
        events = await http.get("/v3.1/events", headers={"Authorization": f"Bearer {token}"})
        listed = await http.get("/oauth/tokens", params={"owner_type": "district"}, auth=auth)
    assert events.status_code == 401
    assert second not in {item["owner"]["id"] for item in listed.json()["data"]}
    assert store.events()[-1]["type"] == "districts.deleted"
