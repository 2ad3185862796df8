"""The Events API: control-API changes become Clever-shaped events, per version and district."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from clever_sandbox.config import SandboxConfig
from clever_sandbox.store import SandboxStore
from tests.conftest import RunningSandbox
from tests.sandbox.asgi import local_sandbox


def _client(sandbox: RunningSandbox, district_id: str) -> httpx.AsyncClient:
    token = sandbox.sandbox.tokens.district_token(district_id, sandbox.config.client_id)
    return httpx.AsyncClient(base_url=sandbox.url, headers={"Authorization": f"Bearer {token}"})


def _student(store: SandboxStore, district: int = 0) -> dict[str, Any]:
    district_id = store.district_ids()[district]
    return next(u for u in store.all("users") if "student" in u["roles"] and u["district"] == district_id)


async def _events(client: httpx.AsyncClient, version: str = "v3.1", **params: Any) -> list[dict[str, Any]]:
    response = await client.get(f"/{version}/events", params=params)
    assert response.status_code == 200, response.text
    return [item["data"] for item in response.json()["data"]]


async def test_changes_become_events_in_order(http: httpx.AsyncClient, store: SandboxStore) -> None:
    student = _student(store)
    created = (await http.post("/sandbox/users", json={"roles": {"district_admin": {"title": "CTO"}}})).json()
    await http.patch(f"/sandbox/users/{created['id']}", json={"email": "cto@example.org"})
    await http.patch(f"/sandbox/users/{student['id']}", json={"name": {"first": "Changed"}})
    await http.delete(f"/sandbox/users/{created['id']}")
    events = await _events(http)
    assert [e["type"] for e in events] == ["users.created", "users.updated", "users.updated", "users.deleted"]
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    assert events == list(store.events())
    assert events[0]["data"]["object"] == created
    # previous_attributes inside `data`, as Clever's Events API page shows (README, "Sandbox modes").
    assert "previous_attributes" not in events[0]["data"]
    assert events[1]["data"]["previous_attributes"] == {"email": None}
    assert events[2]["data"]["previous_attributes"] == {"name": {"first": student["name"]["first"]}}
    assert not any("previous_attributes" in event for event in events)
    assert events[2]["data"]["object"] == store.user(student["id"])
    assert events[3]["data"]["object"]["email"] == "cto@example.org"
    single = (await http.get(f"/v3.1/events/{events[2]['id']}")).json()
    assert single["data"] == events[2]


@pytest.mark.parametrize("version", ["v3.0", "v3.1"])
async def test_previous_attributes_sit_beside_data_when_so_configured(version: str) -> None:
    """SandboxConfig(previous_attributes="beside"): the placement of Clever's definitions."""
    async with local_sandbox(SandboxConfig(previous_attributes="beside")) as local:
        store = local.sandbox.store
        student = _student(store)
        local.http.headers["Authorization"] = (
            f"Bearer {local.sandbox.tokens.district_token(student['district'], local.config.client_id)}"
        )
        await local.http.patch(f"/sandbox/users/{student['id']}", json={"name": {"first": "Changed"}})
        (event,) = await _events(local.http, version)
    assert event["previous_attributes"] == {"name": {"first": student["name"]["first"]}}
    assert set(event["data"]) == {"object"}


async def test_removing_a_role_reports_it_as_the_previous_value(
    http: httpx.AsyncClient, store: SandboxStore
) -> None:
    both = next(u for u in store.all("users") if {"teacher", "staff"} <= set(u["roles"]))
    await http.patch(f"/sandbox/users/{both['id']}", json={"roles": {"staff": None}})
    (event,) = await _events(http)
    assert event["data"]["previous_attributes"] == {"roles": {"staff": both["roles"]["staff"]}}
    assert "staff" not in event["data"]["object"]["roles"]


async def test_an_unchanged_patch_emits_nothing(http: httpx.AsyncClient, store: SandboxStore) -> None:
    student = _student(store)
    response = await http.patch(f"/sandbox/users/{student['id']}", json={"email": student["email"]})
    assert response.status_code == 200
    assert await _events(http) == []


async def test_v30_feed_leaves_out_changes_to_v31_fields(
    http: httpx.AsyncClient, store: SandboxStore
) -> None:
    student = _student(store)
    old = student["roles"]["student"]["gifted_status"]
    new = "Y" if old != "Y" else "N"
    await http.patch(f"/sandbox/users/{student['id']}", json={"roles": {"student": {"gifted_status": new}}})
    await http.patch(
        f"/sandbox/users/{student['id']}", json={"roles": {"student": {"grade": "Other", "iep_status": "Z"}}}
    )
    v31 = await _events(http, "v3.1")
    v30 = await _events(http, "v3.0")
    assert len(v31) == 2
    assert [e["id"] for e in v30] == [v31[1]["id"]]
    assert v30[0]["data"]["previous_attributes"] == {
        "roles": {"student": {"grade": student["roles"]["student"]["grade"]}}
    }
    assert "gifted_status" not in v30[0]["data"]["object"]["roles"]["student"]
    assert "lms_status" not in v30[0]["data"]["object"]
    assert (await http.get(f"/v3.0/events/{v31[0]['id']}")).status_code == 404


async def test_record_type_school_and_paging(http: httpx.AsyncClient, store: SandboxStore) -> None:
    section = store.all("sections")[0]
    student = _student(store)
    await http.patch(f"/sandbox/sections/{section['id']}", json={"period": "8"})
    await http.patch(f"/sandbox/users/{student['id']}", json={"name": {"last": "Renamed"}})
    await http.patch(f"/sandbox/sections/{section['id']}", json={"period": "9"})
    everything = await _events(http)
    assert [e["type"] for e in await _events(http, record_type="sections")] == ["sections.updated"] * 2
    both = await _events(http, record_type=["sections", "users"])
    assert both == everything
    other_school = next(s["id"] for s in store.all("schools") if s["id"] != section["school"])
    at_school = await _events(http, school=section["school"])
    assert all(
        e["type"] == "users.updated" or e["data"]["object"]["school"] == section["school"] for e in at_school
    )
    assert not any(e["type"].startswith("sections") for e in await _events(http, school=other_school))
    first = (await http.get("/v3.1/events", params={"limit": 2})).json()
    nxt = next(link["uri"] for link in first["links"] if link["rel"] == "next")
    rest = (await http.get(nxt)).json()
    assert [i["data"]["id"] for i in first["data"] + rest["data"]] == [e["id"] for e in everything]
    assert (await http.get("/v3.1/events", params={"record_type": "pets"})).status_code == 400


async def test_districts_see_their_own_events(
    sandbox: RunningSandbox, http: httpx.AsyncClient, store: SandboxStore
) -> None:
    await http.patch(f"/sandbox/users/{_student(store, 1)['id']}", json={"name": {"first": "Second"}})
    await http.patch(f"/sandbox/users/{_student(store, 0)['id']}", json={"name": {"first": "First"}})
    main_events = await _events(http)
    async with _client(sandbox, store.district_ids()[1]) as other:
        second_events = await _events(other)
        hidden = await other.get(f"/v3.1/events/{main_events[0]['id']}")
    assert [e["data"]["object"]["name"]["first"] for e in main_events] == ["First"]
    assert [e["data"]["object"]["name"]["first"] for e in second_events] == ["Second"]
    assert hidden.status_code == 404


async def test_event_ids_keep_growing_across_a_reset(http: httpx.AsyncClient, store: SandboxStore) -> None:
    student = _student(store)
    await http.patch(f"/sandbox/users/{student['id']}", json={"email": "a@example.org"})
    (before,) = await _events(http)
    assert (await http.post("/sandbox/reset")).status_code == 204
    assert await _events(http) == []
    await http.patch(f"/sandbox/users/{student['id']}", json={"email": "b@example.org"})
    (after,) = await _events(http, starting_after=before["id"])
    assert after["id"] > before["id"]
