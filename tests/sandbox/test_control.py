"""The control API: roster changes from a test, seen through the Data API, and reset."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from clever_sandbox.store import SandboxStore
from tests.conftest import RunningSandbox


def _a_school(store: SandboxStore) -> str:
    return str(store.all("schools")[0]["id"])


def _new_teacher(store: SandboxStore) -> dict[str, Any]:
    school = _a_school(store)
    return {
        "name": {"first": "Nia", "middle": None, "last": "Okoro"},
        "email": "nia.okoro@example.org",
        "roles": {"teacher": {"school": school, "schools": [school], "title": "Teacher"}},
    }


async def test_a_created_user_gets_the_newest_id_and_is_served(
    http: httpx.AsyncClient, store: SandboxStore
) -> None:
    seeded = [record["id"] for kind in ("users", "sections", "resources") for record in store.all(kind)]
    response = await http.post("/sandbox/users", json=_new_teacher(store))
    assert response.status_code == 201
    user = response.json()
    assert user["id"] > max(seeded)
    assert user["district"] == store.district_ids()[0]
    assert user["roles"]["teacher"]["legacy_id"]
    assert store.user(user["id"]) == user
    served = await http.get(f"/v3.1/users/{user['id']}")
    assert served.json()["data"] == user
    listed = (await http.get("/v3.1/users", params={"role": "teacher", "limit": 10000})).json()["data"]
    assert listed[-1]["data"]["id"] == user["id"]


async def test_patch_merges_and_null_removes_a_role(http: httpx.AsyncClient, store: SandboxStore) -> None:
    both = next(u for u in store.all("users") if {"teacher", "staff"} <= set(u["roles"]))
    response = await http.patch(
        f"/sandbox/users/{both['id']}", json={"roles": {"staff": None}, "name": {"first": "D"}}
    )
    assert response.status_code == 200
    user = response.json()
    assert set(user["roles"]) == {"teacher"}
    assert user["roles"]["teacher"] == both["roles"]["teacher"]
    assert user["name"] == {**both["name"], "first": "D"}
    assert (await http.get(f"/v3.1/users/{both['id']}")).json()["data"] == user


async def test_delete_removes_the_user_everywhere(http: httpx.AsyncClient, store: SandboxStore) -> None:
    section = next(s for s in store.all("sections") if s["students"])
    student_id = section["students"][0]
    assert (await http.delete(f"/sandbox/users/{student_id}")).status_code == 204
    assert (await http.get(f"/v3.1/users/{student_id}")).status_code == 404
    roster = (await http.get(f"/v3.1/sections/{section['id']}")).json()["data"]
    assert student_id not in roster["students"]
    assert (await http.delete(f"/sandbox/users/{student_id}")).status_code == 404


async def test_sections_create_update_delete(http: httpx.AsyncClient, store: SandboxStore) -> None:
    teacher = next(
        u for u in store.all("users") if "teacher" in u["roles"] and u["district"] == store.district_ids()[0]
    )
    student = next(
        u for u in store.all("users") if "student" in u["roles"] and u["district"] == teacher["district"]
    )
    created = await http.post(
        "/sandbox/sections",
        json={"school": _a_school(store), "name": "Robotics", "subject": "technology and engineering",
              "teachers": [teacher["id"]], "students": [student["id"]]},
    )  # fmt: skip
    assert created.status_code == 201
    section = created.json()
    assert section["teacher"] == teacher["id"]
    assert section["district"] == teacher["district"]
    mine = (await http.get(f"/v3.1/users/{student['id']}/sections")).json()["data"]
    assert section["id"] in [item["data"]["id"] for item in mine]
    patched = await http.patch(f"/sandbox/sections/{section['id']}", json={"period": "9", "students": []})
    assert patched.json()["period"] == "9"
    mine = (await http.get(f"/v3.1/users/{student['id']}/sections")).json()["data"]
    assert section["id"] not in [item["data"]["id"] for item in mine]
    assert (await http.delete(f"/sandbox/sections/{section['id']}")).status_code == 204
    assert store.get("sections", section["id"]) is None


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/sandbox/users", b"{not json", 400),
        ("POST", "/sandbox/users", b"[1, 2]", 400),
        ("POST", "/sandbox/users", b'{"id": "x", "roles": {"teacher": {}}}', 400),
        ("POST", "/sandbox/users", b'{"roles": {}}', 400),
        ("POST", "/sandbox/users", b'{"roles": {"wizard": {}}}', 400),
        ("POST", "/sandbox/users", b'{"roles": {"student": {}, "teacher": {}}}', 400),
        ("POST", "/sandbox/users", b'{"district": "nope", "roles": {"teacher": {}}}', 400),
        ("POST", "/sandbox/sections", b'{"name": "no school"}', 400),
        ("PATCH", "/sandbox/users/0123456789abcdef01234567", b"{}", 404),
        ("PATCH", "/sandbox/sections/0123456789abcdef01234567", b"{}", 404),
        ("DELETE", "/sandbox/sections/0123456789abcdef01234567", None, 404),
    ],
)
async def test_bad_requests(
    sandbox: RunningSandbox, method: str, path: str, body: bytes | None, status: int
) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        response = await client.request(
            method, path, content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == status
    assert isinstance(response.json()["message"], str)
    assert not sandbox.sandbox.store.events()


async def test_bad_patches_change_nothing(http: httpx.AsyncClient, store: SandboxStore) -> None:
    student = next(u for u in store.all("users") if "student" in u["roles"])
    patches: list[dict[str, Any]] = [
        {"id": "other"},
        {"roles": {"teacher": {}}},
        {"roles": {"student": None}},
    ]
    for patch in patches:
        response = await http.patch(f"/sandbox/users/{student['id']}", json=patch)
        assert response.status_code == 400, patch
    section = store.all("sections")[0]
    response = await http.patch(
        f"/sandbox/sections/{section['id']}", json={"students": [store.all("users")[0]["id"]]}
    )
    assert response.status_code == 400
    assert store.user(student["id"]) == student
    assert store.get("sections", section["id"]) == section
    assert not store.events()


async def test_reset_goes_back_to_the_seeded_district(sandbox: RunningSandbox, store: SandboxStore) -> None:
    before = {kind: list(store.all(kind)) for kind in ("users", "sections")}
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        created = (await client.post("/sandbox/users", json=_new_teacher(store))).json()
        await client.delete(f"/sandbox/sections/{before['sections'][0]['id']}")
        assert (await client.post("/sandbox/reset")).status_code == 204
        again = (await client.post("/sandbox/users", json=_new_teacher(store))).json()
    assert again["id"] == created["id"]  # ids are handed out the same way after a reset
    await_reset = {kind: list(store.all(kind)) for kind in ("users", "sections")}
    assert await_reset["sections"] == before["sections"]
    assert await_reset["users"][:-1] == before["users"]


FAULT = b'{"path": "/v3.1/*", "status": 500}'
ELSEWHERE = "http://127.0.0.1:1"  # another app on the same machine: same site, other origin


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        # A page elsewhere posting as a form or a no-cors fetch would: no preflight needed.
        ({"Origin": ELSEWHERE, "Content-Type": "text/plain", "Sec-Fetch-Site": "same-site"}, 403),
        (
            {"Origin": "https://evil.example", "Content-Type": "text/plain", "Sec-Fetch-Site": "cross-site"},
            403,
        ),
        ({"Origin": "null", "Content-Type": "application/x-www-form-urlencoded"}, 403),
        ({"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"}, 403),
        # DNS rebinding: a page at evil.example:port that resolves to 127.0.0.1 is same-origin.
        (
            {"Origin": "http://evil.example:9", "Host": "evil.example:9", "Content-Type": "application/json"},
            403,
        ),
        # Without Origin, but not JSON.
        ({"Content-Type": "text/plain"}, 415),
        ({"Content-Type": "multipart/form-data; boundary=x"}, 415),
        ({}, 415),
    ],
)
async def test_the_control_api_refuses_cross_origin_and_simple_requests(
    sandbox: RunningSandbox, headers: dict[str, str], status: int
) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        armed = await client.post("/sandbox/faults", content=FAULT, headers=headers)
        reset = await client.post("/sandbox/reset", headers=headers)
        listed = (await client.get("/sandbox/faults")).json()["data"]
    assert armed.status_code == status
    assert reset.status_code == (status if headers else 204)  # no body, no Origin: a program
    assert isinstance(armed.json()["message"], str)
    assert listed == []


async def test_the_control_api_serves_programs_and_its_own_origin(sandbox: RunningSandbox) -> None:
    own = sandbox.url
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        program = await client.post("/sandbox/faults", json={"path": "/v3.1/x", "status": 500})
        same_origin = await client.post(
            "/sandbox/faults",
            json={"path": "/v3.1/y", "status": 500},
            headers={"Origin": own, "Sec-Fetch-Site": "same-origin"},
        )
        listed = (await client.get("/sandbox/faults")).json()["data"]
        cleared = await client.delete("/sandbox/faults")
        reset = await client.post("/sandbox/reset")
    assert (program.status_code, same_origin.status_code) == (201, 201)
    assert [rule["path"] for rule in listed] == ["/v3.1/x", "/v3.1/y"]
    assert (cleared.status_code, reset.status_code) == (204, 204)
