"""Every strict mode (tests.sandbox.modes) against Clever's own API definitions, as
test_conformance checks the demo sandbox: every Data API path with every id, the event feed
after changes, and the identity answers of a login of every role.

A path outside the app's scopes has no answer in the definitions (they list 200 and 404 only):
it must give the refusal the mode names, JSON shaped as the definitions' shared error answer
(`{"message": ...}`), or Clever's HTML page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from clever_sandbox.strictness import MISSING_SCOPE_MESSAGE, reads_resources, resources_granted
from tests.conftest import RunningSandbox
from tests.sandbox import test_conformance as conformance
from tests.sandbox.modes import MODES, sandbox_in_mode
from tests.support import clever_spec
from tests.support.clever_spec import JsonSchema, assert_conforms

pytestmark = conformance.pytestmark

KINDS = ("users", "sections", "resources", "schools", "courses", "terms")
# The modes that change what the Data API answers (the spellings show in identity answers only),
# the JSON refusal of a missing scope walked as part of them all at once.
DATA_MODES = ["no_resources_scope_html", "no_sensitive_scope", "sparse_students", "all_at_once"]
assert set(DATA_MODES) | {"no_resources_scope"} == {
    mode for mode, fields in MODES.items() if set(fields) != {"user_type_spelling"}
}
# The login role whose `user_type` a mode may spell otherwise: staff as `school_admin` too.
_SPELLED = [*conformance._USER_TYPES, "school_admin"]


def _spelled(schema: JsonSchema) -> JsonSchema:
    return {**schema, "properties": {**schema["properties"], "user_type": {"enum": _SPELLED}}}


ID_TOKEN_CLAIMS = _spelled(conformance.ID_TOKEN_CLAIMS)
USERINFO = _spelled(conformance.USERINFO)


@dataclass(frozen=True)
class World:
    """A sandbox in one mode and what each of its district connections holds."""

    mode: str
    running: RunningSandbox
    holdings: list[conformance.Holdings]

    @property
    def resources(self) -> bool:
        return resources_granted(self.running.config)


def _holdings(running: RunningSandbox) -> list[conformance.Holdings]:
    store, config = running.sandbox.store, running.config
    kinds = KINDS if resources_granted(config) else tuple(kind for kind in KINDS if kind != "resources")
    found = []
    with httpx.Client(base_url=running.url, timeout=30) as client:
        for district_id in store.district_ids():
            token = running.sandbox.tokens.district_token(district_id, config.client_id)
            client.headers["Authorization"] = f"Bearer {token}"
            ids = {kind: conformance.read_ids(client, f"/v3.1/{kind}") for kind in kinds}
            ids["districts"] = [district_id]
            by_role = {
                role: conformance.read_ids(client, "/v3.1/users", {"role": role})
                for role in conformance.ROLES
            }
            found.append(conformance.Holdings(district_id, token, ids, by_role))
    return found


@pytest.fixture(scope="module", params=DATA_MODES)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    with sandbox_in_mode(request.param) as running:
        yield World(request.param, running, _holdings(running))


@pytest.fixture
async def districts(world: World) -> AsyncIterator[list[conformance.District]]:
    """A client per district connection, each test with a fresh rate budget (as the shared
    sandbox's reset gives test_conformance)."""
    world.running.sandbox.limiter.clear()
    clients = [
        httpx.AsyncClient(
            base_url=world.running.url, timeout=30, headers={"Authorization": f"Bearer {held.token}"}
        )
        for held in world.holdings
    ]
    try:
        yield [
            conformance.District(held, client) for held, client in zip(world.holdings, clients, strict=True)
        ]
    finally:
        for client in clients:
            await client.aclose()


async def _assert_refused(world: World, client: httpx.AsyncClient, url: str) -> None:
    answer = await client.get(url)
    if world.running.config.scope_error == "html":
        assert (answer.status_code, answer.headers["content-type"].split(";")[0]) == (404, "text/html"), url
        return
    assert answer.status_code == 403, f"GET {url}: {answer.status_code} {answer.text[:200]}"
    body = answer.json()
    # The shape every error answer of the definitions shares.
    definitions = clever_spec.load(clever_spec.DATA_FILES["v3.1"])
    assert_conforms(definitions.response_schema("/users/{id}", 404), body, f"GET {url}")
    assert body == {"message": MISSING_SCOPE_MESSAGE}


@pytest.mark.parametrize(("version", "path"), conformance.DATA_PATHS)
async def test_data_api_path_conforms_in_every_mode(
    world: World, districts: list[conformance.District], version: str, path: str
) -> None:
    definitions = clever_spec.load(clever_spec.DATA_FILES[version])
    if reads_resources(path) and not world.resources:
        store = world.running.sandbox.store
        kind = path.split("/")[1]
        for district in districts:
            ids = [
                record["id"] for record in store.all(kind) if record.get("district") == district.district_id
            ]
            for record_id in ids[:3] if "{id}" in path else [""]:
                await _assert_refused(world, district.client, f"/{version}{path.replace('{id}', record_id)}")
        return
    coverage = conformance.Coverage()
    for district in districts:
        walker = conformance.Walker(district.client, version, definitions)
        await conformance.walk_data_path(walker, district, path, coverage)
    assert coverage.statuses[200], f"nothing gave a 200 answer on {path} in mode {world.mode}"


async def _control(running: RunningSandbox, method: str, url: str, body: object | None = None) -> Any:
    async with httpx.AsyncClient(base_url=running.url) as client:
        answer = await client.request(method, url, json=body)
    assert answer.status_code < 300, f"{method} {url}: {answer.text}"
    return answer.json() if answer.content else None


@pytest.mark.parametrize("version", list(clever_spec.EVENTS_FILES))
async def test_events_conform_in_every_mode(
    world: World, districts: list[conformance.District], version: str
) -> None:
    running = world.running
    district = districts[0]
    student_id = district.users_by_role["student"][0]
    try:
        await _control(running, "PATCH", f"/sandbox/users/{student_id}", {"name": {"first": "Renamed"}})
        await _control(
            running, "PATCH", f"/sandbox/users/{student_id}", {"roles": {"student": {"ell_status": "Y"}}}
        )
        section = district.ids["sections"][0]
        resource = await _control(
            running,
            "POST",
            "/sandbox/resources",
            {"title": "Lab", "roles": ["student"], "sections": [section]},
        )
        resource_id = resource.get("data", resource)["id"]
        await _control(running, "PATCH", f"/sandbox/resources/{resource_id}", {"title": "Renamed Lab"})
        await _control(running, "DELETE", f"/sandbox/users/{student_id}")

        definitions = clever_spec.load(clever_spec.EVENTS_FILES[version])
        walker = conformance.Walker(district.client, version, definitions)
        events = await walker.pages("/events", f"/{version}/events", {})
        kinds = {event["type"] for event in events}
        assert {"users.updated", "users.deleted"} <= kinds
        assert ("resources.created" in kinds) == world.resources
        for event in events:
            status, body = await walker.one("/events/{id}", f"/{version}/events/{event['id']}")
            assert (status, body["data"]) == (200, event)
    finally:
        await _control(running, "POST", "/sandbox/reset")


@pytest.mark.parametrize("mode", list(MODES))
async def test_logins_of_every_role_conform_in_every_mode(mode: str) -> None:
    with sandbox_in_mode(mode) as running:
        store = running.sandbox.store
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
            for login in store.demo_logins():
                if not login.district_id:
                    continue  # Library logins: test_conformance's own
                authorized = await conformance.authorize(
                    client, running, login.user_id, login_role=login.user_type
                )
                assert authorized.status_code == 302, authorized.text[:200]
                (code,) = parse_qs(urlsplit(authorized.headers["location"]).query)["code"]
                tokens = conformance.json_of(
                    await conformance.exchange(client, running, code), conformance.TOKEN_ANSWER
                )
                assert_conforms(
                    ID_TOKEN_CLAIMS,
                    conformance.jwt_claims(tokens["id_token"]),
                    f"{mode}: id_token of {login.label}",
                )
                bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
                conformance.json_of(await client.get("/userinfo", headers=bearer), USERINFO)
                conformance.json_of(await client.get("/v3.0/me", headers=bearer), conformance.ME)
                user = await client.get(f"/v3.1/users/{login.user_id}", headers=bearer)
                definitions = clever_spec.load(clever_spec.DATA_FILES["v3.1"])
                assert_conforms(
                    definitions.response_schema("/users/{id}", 200), user.json(), f"{mode}: {login.label}"
                )
