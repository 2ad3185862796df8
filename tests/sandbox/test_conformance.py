"""The sandbox against Clever's own API definitions: every path, every record, every role.

Each GET path of `v3.0.yml` / `v3.1.yml` is walked under its version's base path with ids the
sandbox really holds, following pages with a small `limit`, and every answer is checked against
the path's schema in the definitions (made strict by `tests.support.clever_spec`). The Events
API files are checked the same way after the control API has produced events. OAuth and OIDC
answers have no Swagger definition; their schemas below are written from Clever's docs.

Where Clever's docs and its definitions disagree, the definitions win: disability codes are
lower case (`aut`; the docs print `AUT`), the field is `home_language_code` (the docs spell it
`home_lanuage_code`), and a link's `rel` is `self`, `next` or `prev` only. One disagreement is a
sandbox mode instead (README, "Sandbox modes"): an update event's `previous_attributes` sits
inside its `data` by default, as the docs and the feed show it, and beside `data`, as the
definitions have it, with `previous_attributes="beside"`; an event that has it inside is
checked as if it were beside, so its values are still checked against the definitions.

Everything here runs once per entry of `MODES`: the default sandbox, and one in every other
value of the strictness modes (each mode's values are covered by one or the other).
"""

from __future__ import annotations

import base64
import collections
import contextlib
import functools
import itertools
import json
import ssl
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from clever_sandbox.config import SandboxConfig
from clever_sandbox.paging import LAST
from tests.conftest import TEST_REDIRECT_URI, RunningSandbox, remember_sandbox_secrets, running_sandbox
from tests.support import clever_spec
from tests.support.clever_spec import JsonSchema, SwaggerFile, assert_conforms

SPEC_FOLDER = clever_spec.spec_dir()

pytestmark = [
    pytest.mark.spec,
    pytest.mark.skipif(SPEC_FOLDER is None, reason=clever_spec.missing_reason()),
]

PAGE_SIZE = 4  # small, so that every list is read over several pages
MAX_PAGES = 500
ROLES = ("student", "teacher", "staff", "district_admin", "contact")
UNKNOWN_ID = "0123456789abcdef01234567"  # shaped like a Clever id, held by no record

Query = Mapping[str, str | list[str]]  # a list is sent as a repeated parameter

# Sandbox modes (SandboxConfig) the whole module runs in: None is the shared, default sandbox.
MODES: dict[str, SandboxConfig | None] = {
    "default-modes": None,
    "kind-modes": SandboxConfig(
        redirect_uris=(TEST_REDIRECT_URI,),
        events_ending_before_last="answered",
        previous_attributes="beside",
        pkce="enforced",
    ),
}


@pytest.fixture(scope="module", params=list(MODES))
def sandbox_server(
    request: pytest.FixtureRequest, sandbox_server: RunningSandbox
) -> Iterator[RunningSandbox]:
    """The shared sandbox, or one in other modes for this module's run in them."""
    config = MODES[request.param]
    if config is None:
        yield sandbox_server
        return
    with running_sandbox(config) as running:
        yield running
    remember_sandbox_secrets(running.sandbox)


def _paths(files: Mapping[str, str]) -> list[Any]:
    if SPEC_FOLDER is None:
        return [pytest.param("absent", "absent", id="clever-spec-absent")]
    return [
        pytest.param(version, path, id=f"{version}{path}")
        for version, filename in files.items()
        for path in clever_spec.load(filename).get_paths()
    ]


DATA_PATHS = _paths(clever_spec.DATA_FILES)
EVENTS_PATHS = _paths(clever_spec.EVENTS_FILES)


# -- talking to the sandbox ------------------------------------------------------------------


class Walker:
    """GETs from one API version with one token, checking every answer as it goes."""

    def __init__(self, client: httpx.AsyncClient, version: str, definitions: SwaggerFile) -> None:
        self.client = client
        self.version = version
        self.definitions = definitions
        self.validated = 0

    async def get(self, url: str, params: Query | None = None) -> httpx.Response:
        response = await self.client.get(url, params=params)
        where = f"GET {response.request.url.raw_path.decode()}"
        assert response.headers.get("content-type", "").startswith("application/json"), (
            f"{where} answered {response.status_code} {response.headers.get('content-type')}: "
            f"{response.text[:200]}"
        )
        return response

    def check(self, response: httpx.Response, schema: JsonSchema) -> Any:
        body = response.json()
        where = f"GET {response.request.url.raw_path.decode()} ({response.status_code})"
        assert_conforms(schema, as_defined(body), where)
        self.validated += 1
        return body

    async def one(self, path: str, url: str, params: Query | None = None) -> tuple[int, Any]:
        """The status and body of a single answer to `url`, which must be one the definitions
        list for `path`."""
        response = await self.get(url, params)
        statuses = self.definitions.statuses(path)
        assert response.status_code in statuses, (
            f"GET {url} answered {response.status_code}; {self.definitions.name} lists {statuses} "
            f"for {path}: {response.text[:200]}"
        )
        status = response.status_code
        return status, self.check(response, self.definitions.response_schema(path, status))

    async def pages(self, path: str, url: str, params: Query, follow: str = "next") -> list[dict[str, Any]]:
        """Every record of a list, read `PAGE_SIZE` at a time by following `next` links (or
        `prev` ones, backwards from an `ending_before` in `params`)."""
        schema = self.definitions.response_schema(path, 200)
        records: list[dict[str, Any]] = []
        response = await self.get(url, {**params, "limit": str(PAGE_SIZE)})
        for _ in range(MAX_PAGES):
            assert response.status_code == 200, f"GET {response.request.url} answered {response.text[:200]}"
            body = self.check(response, schema)
            page = [item["data"] for item in body["data"]]
            assert len(page) <= PAGE_SIZE, f"GET {response.request.url} ignored limit={PAGE_SIZE}"
            records.extend(page)
            following = [link["uri"] for link in body["links"] if link["rel"] == follow]
            if not page or not following:
                return records
            response = await self.get(following[0])
        raise AssertionError(f"GET {url} still had a next page after {MAX_PAGES} pages")


def _event_as_defined(event: Any) -> Any:
    """An event with `previous_attributes` inside its `data` (Clever's docs and feed), moved
    beside `data` where the definitions put it; any other answer as it is."""
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        return event
    data = event["data"]
    if "previous_attributes" not in data or "type" not in event:
        return event
    moved = {key: value for key, value in data.items() if key != "previous_attributes"}
    return {**event, "data": moved, "previous_attributes": data["previous_attributes"]}


def as_defined(body: Any) -> Any:
    """An Events API answer (a list, or one event) with its events as the definitions place
    `previous_attributes` (the module's docstring); any other answer as it is."""
    if not isinstance(body, dict) or "data" not in body:
        return body
    items = body["data"]
    if isinstance(items, list):
        shown = [
            {**item, "data": _event_as_defined(item["data"])} if isinstance(item, dict) else item
            for item in items
        ]
        return {**body, "data": shown}
    return {**body, "data": _event_as_defined(items)}


@dataclass(frozen=True)
class Holdings:
    """What one district connection sees: its token and the ids of everything it holds."""

    district_id: str
    token: str
    ids: Mapping[str, list[str]]
    users_by_role: Mapping[str, list[str]]


@dataclass(frozen=True)
class District:
    holdings: Holdings
    client: httpx.AsyncClient

    @property
    def district_id(self) -> str:
        return self.holdings.district_id

    @property
    def ids(self) -> Mapping[str, list[str]]:
        return self.holdings.ids

    @property
    def users_by_role(self) -> Mapping[str, list[str]]:
        return self.holdings.users_by_role

    def roles_of(self, user_id: str) -> list[str]:
        return [role for role, ids in self.users_by_role.items() if user_id in ids]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One CA bundle for every client: loading it is most of what making a client costs."""
    return ssl.create_default_context()


def read_ids(client: httpx.Client, url: str, params: Mapping[str, str] | None = None) -> list[str]:
    ids: list[str] = []
    response = client.get(url, params={**(params or {}), "limit": "10000"})
    for _ in range(MAX_PAGES):
        assert response.status_code == 200, f"GET {url}: {response.status_code} {response.text[:200]}"
        body = response.json()
        page = [item["data"]["id"] for item in body["data"]]
        ids.extend(page)
        following = [link["uri"] for link in body.get("links", []) if link.get("rel") == "next"]
        if not page or not following:
            return ids
        response = client.get(following[0])
    raise AssertionError(f"GET {url} never ended")


def read_holdings(client: httpx.Client, district_id: str, token: str) -> Holdings:
    client.headers["Authorization"] = f"Bearer {token}"
    ids = {
        kind: read_ids(client, f"/v3.1/{kind}")
        for kind in ("users", "sections", "resources", "schools", "courses", "terms")
    }
    districts = client.get("/v3.1/districts")
    assert districts.status_code == 200, districts.text
    ids["districts"] = [item["data"]["id"] for item in districts.json()["data"]]
    assert ids["districts"] == [district_id], "a district token sees its own district only"
    by_role = {role: read_ids(client, "/v3.1/users", {"role": role}) for role in ROLES}
    return Holdings(district_id=district_id, token=token, ids=ids, users_by_role=by_role)


@pytest.fixture(scope="module")
def holdings(sandbox_server: RunningSandbox) -> list[Holdings]:
    """Every district connection and what it holds, read once: the seeded district is the same
    after every reset, and district tokens outlive resets."""
    config = sandbox_server.config
    with httpx.Client(base_url=sandbox_server.url, timeout=30) as client:
        # The district-app tokens, fetched the way a partner does.
        response = client.get(
            "/oauth/tokens", params={"owner_type": "district"}, auth=(config.client_id, config.client_secret)
        )
        assert response.status_code == 200, response.text
        connections = [(record["owner"]["id"], record["access_token"]) for record in response.json()["data"]]
        found = [read_holdings(client, district_id, token) for district_id, token in connections]
    assert found, "the sandbox has no district connection"
    for kind in ("users", "sections", "resources", "schools", "courses", "terms"):
        assert any(h.ids[kind] for h in found), f"the sandbox holds no {kind} to check"
    for role in ROLES:
        assert any(h.users_by_role[role] for h in found), f"the sandbox holds no {role} users"
    return found


@pytest.fixture
async def districts(sandbox: RunningSandbox, holdings: list[Holdings]) -> AsyncIterator[list[District]]:
    """A client per district connection; together they hold records of every kind and users of
    every role, so every sub-resource variant gets exercised."""
    async with contextlib.AsyncExitStack() as stack:
        found = []
        for held in holdings:
            client = httpx.AsyncClient(
                base_url=sandbox.url,
                timeout=30,
                verify=tls_context(),
                headers={"Authorization": f"Bearer {held.token}"},
            )
            found.append(District(held, await stack.enter_async_context(client)))
        yield found


def a_user(districts: list[District], role: str) -> tuple[District, str]:
    for district in districts:
        if district.users_by_role[role]:
            return district, district.users_by_role[role][0]
    raise AssertionError(f"no {role} user")


def query_variants(definitions: SwaggerFile, path: str) -> list[dict[str, str]]:
    """No filter, then every combination of the values of the path's enum filters (`role`,
    `primary`); `count` only changes what is counted, so it is tried on its own."""
    filters = {
        name: [None, *parameter.enum]
        for name in ("role", "primary")
        if (parameter := definitions.query_parameter(path, name)) is not None
    }
    return [
        {name: value for name, value in zip(filters, combination, strict=True) if value is not None}
        for combination in itertools.product(*filters.values())
    ]


# -- the Data API ----------------------------------------------------------------------------


# Sub-resource lists that must hold records for users of these roles, so that each role's
# variant is checked on real records (the definitions: "the student users for a teacher or
# contact user", "the teacher users for a student user", ...).
FILLED_FOR_ROLES: Mapping[str, tuple[str, ...]] = {
    "/users/{id}/mystudents": ("teacher", "contact"),
    "/users/{id}/myteachers": ("student",),
    "/users/{id}/mycontacts": ("student",),
    "/users/{id}/sections": ("student", "teacher"),
    "/users/{id}/schools": ("student", "teacher", "staff"),
    "/users/{id}/resources": ("student", "teacher"),
}
# Query variants that may rightly be empty everywhere: the Staff definition has `schools` but no
# primary `school`.
MAY_BE_EMPTY = frozenset({"role=staff&primary=true"})


@dataclass
class Coverage:
    """What walking one path met, over every district."""

    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    filled: set[tuple[str, str]] = field(default_factory=set)  # (query, role or "*") with records


async def walk_data_path(walker: Walker, district: District, path: str, coverage: Coverage) -> None:
    """Every answer `path` gives in one district, for every id and query variant."""
    definitions, version = walker.definitions, walker.version
    kind = path.split("/")[1]
    paged = definitions.query_parameter(path, "limit") is not None

    if "{id}" not in path:
        if not paged:
            _, body = await walker.one(path, f"/{version}{path}")
            assert [item["data"]["id"] for item in body["data"]] == district.ids[kind]
            coverage.statuses[200] += 1
            return
        for params in query_variants(definitions, path):
            records = await walker.pages(path, f"/{version}{path}", params)
            coverage.statuses[200] += 1
            ids = sorted(record["id"] for record in records)
            if not params:
                # Read page by page, the list met every record of its kind exactly once.
                assert ids == sorted(district.ids[kind]), f"paging {path} lost or repeated records"
                if records:
                    # And backwards, by `prev` links, from before the last record.
                    last = records[-1]["id"]
                    before = await walker.pages(path, f"/{version}{path}", {"ending_before": last}, "prev")
                    assert sorted(record["id"] for record in before) == [i for i in ids if i != last]
            elif kind == "users" and set(params) == {"role"}:
                assert ids == sorted(district.users_by_role[params["role"]])
        count = definitions.query_parameter(path, "count")
        for value in count.enum if count else ():
            await walker.one(path, f"/{version}{path}", {"count": value, "limit": str(PAGE_SIZE)})
        return

    for record_id in district.ids[kind]:
        url = f"/{version}{path.replace('{id}', record_id)}"
        if not paged:
            # A single related record may be missing (a section without a course): then the
            # answer must be the path's 404.
            status, _ = await walker.one(path, url)
            coverage.statuses[status] += 1
            continue
        for params in query_variants(definitions, path):
            records = await walker.pages(path, url, params)
            coverage.statuses[200] += 1
            if records:
                query = urlencode(params)
                coverage.filled.add((query, "*"))
                if kind == "users":
                    coverage.filled.update((query, role) for role in district.roles_of(record_id))

    unknown = await walker.get(f"/{version}{path.replace('{id}', UNKNOWN_ID)}")
    assert unknown.status_code == 404, f"{path} with an unknown id answered {unknown.status_code}"
    walker.check(unknown, definitions.response_schema(path, 404))
    coverage.statuses[404] += 1


@pytest.mark.parametrize(("version", "path"), DATA_PATHS)
async def test_data_api_path_conforms(
    districts: list[District], version: str, path: str, request: pytest.FixtureRequest
) -> None:
    definitions = clever_spec.load(clever_spec.DATA_FILES[version])
    assert definitions.base_path == f"/{version}"
    coverage = Coverage()
    validated = 0
    for district in districts:
        walker = Walker(district.client, version, definitions)
        await walk_data_path(walker, district, path, coverage)
        validated += walker.validated
    request.node.user_properties.append(("validated_responses", validated))

    # The answers checked above were worth checking: real records, for every variant.
    assert coverage.statuses[200], f"nothing the sandbox holds gave a 200 answer on {path}"
    if "{id}" in path and definitions.query_parameter(path, "limit") is not None:
        for params in query_variants(definitions, path):
            query = urlencode(params)
            if query not in MAY_BE_EMPTY:
                assert (query, "*") in coverage.filled, f"{path}?{query} was empty for every id"
        for role in FILLED_FOR_ROLES.get(path, ()):
            assert ("", role) in coverage.filled, f"{path} was empty for every {role}"


@pytest.mark.parametrize("version", list(clever_spec.DATA_FILES))
async def test_bad_requests_answer_with_the_shared_bad_request_schema(
    districts: list[District], version: str
) -> None:
    # No path lists a 400; each file declares one shared BadRequest answer for all of them.
    definitions = clever_spec.load(clever_spec.DATA_FILES[version])
    walker = Walker(districts[0].client, version, definitions)
    schema = definitions.shared_response_schema("BadRequest")
    for params in ({"role": "principal"}, {"limit": "many"}):
        response = await walker.get(f"/{version}/users", params)
        assert response.status_code == 400, f"/{version}/users?{params} answered {response.status_code}"
        walker.check(response, schema)


# -- the Events API --------------------------------------------------------------------------


@dataclass(frozen=True)
class ProducedEvents:
    district: District
    record_ids: frozenset[str]


async def _control(client: httpx.AsyncClient, method: str, url: str, body: object | None = None) -> Any:
    response = await client.request(method, url, json=body)
    assert response.status_code in (200, 201, 204), f"{method} {url}: {response.status_code} {response.text}"
    return response.json() if response.content else None


def _created_id(answer: Any) -> str:
    record = answer.get("data", answer) if isinstance(answer, dict) else None
    assert isinstance(record, dict), f"the control API answered {answer!r}"
    record_id = record.get("id")
    assert isinstance(record_id, str), f"the control API answered no id: {answer!r}"
    return record_id


@pytest.fixture
async def produced_events(districts: list[District]) -> ProducedEvents:
    """A user, a section and a resource created, updated and deleted through the control API."""
    district, student_id = a_user(districts, "student")
    client = district.client
    student = (await client.get(f"/v3.1/users/{student_id}")).json()["data"]
    new_user = {key: value for key, value in student.items() if key != "id"}
    new_user["name"] = {"first": "Event", "middle": None, "last": "Conformance"}
    user_id = _created_id(await _control(client, "POST", "/sandbox/users", new_user))
    await _control(client, "PATCH", f"/sandbox/users/{user_id}", {"name": {"first": "Renamed"}})
    # A change to v3.1-only fields, which the v3.0 feed must not show as such.
    v31_only = {"roles": {"student": {"gifted_status": "Y"}}}
    await _control(client, "PATCH", f"/sandbox/users/{user_id}", v31_only)
    await _control(client, "DELETE", f"/sandbox/users/{user_id}")

    section = (await client.get(f"/v3.1/sections/{district.ids['sections'][0]}")).json()["data"]
    new_section = {key: value for key, value in section.items() if key != "id"}
    new_section["name"] = "Conformance 101"
    section_id = _created_id(await _control(client, "POST", "/sandbox/sections", new_section))
    await _control(client, "PATCH", f"/sandbox/sections/{section_id}", {"period": "7"})
    await _control(client, "DELETE", f"/sandbox/sections/{section_id}")

    resource = {"title": "Conformance Lab", "roles": ["student"], "sections": [district.ids["sections"][0]]}
    resource_id = _created_id(await _control(client, "POST", "/sandbox/resources", resource))
    await _control(client, "PATCH", f"/sandbox/resources/{resource_id}", {"title": "Renamed Lab"})
    await _control(client, "DELETE", f"/sandbox/resources/{resource_id}")
    return ProducedEvents(district=district, record_ids=frozenset({user_id, section_id, resource_id}))


@pytest.mark.parametrize(("version", "path"), EVENTS_PATHS)
async def test_events_path_conforms(
    sandbox: RunningSandbox,
    districts: list[District],
    produced_events: ProducedEvents,
    version: str,
    path: str,
    request: pytest.FixtureRequest,
) -> None:
    definitions = clever_spec.load(clever_spec.EVENTS_FILES[version])
    assert definitions.base_path == f"/{version}"
    validated = 0
    for district in districts:
        walker = Walker(district.client, version, definitions)
        events = await walker.pages("/events", f"/{version}/events", {})
        if district is produced_events.district:
            mine = [event for event in events if event["data"]["object"]["id"] in produced_events.record_ids]
            kinds = {event["type"] for event in mine}
            for action in ("created", "updated", "deleted"):
                expected = {f"users.{action}", f"sections.{action}", f"resources.{action}"}
                assert expected <= kinds, f"{version} feed: {kinds}"
            updated = [event for event in mine if event["type"].endswith(".updated")]
            placement = sandbox.config.previous_attributes
            holder = [event["data"] if placement == "inside" else event for event in updated]
            assert updated
            assert all("previous_attributes" in where for where in holder), placement

        if path == "/events":
            if sandbox.config.events_ending_before_last == "answered":
                newest = await walker.pages(path, f"/{version}/events", {"ending_before": LAST}, "prev")
                assert sorted(event["id"] for event in newest) == [event["id"] for event in events]
            else:
                refused = await walker.get(f"/{version}/events", {"ending_before": LAST, "limit": "1"})
                assert refused.status_code == 400, refused.text[:200]
                walker.check(refused, definitions.shared_response_schema("BadRequest"))
            for record_types in (["users"], ["sections"], ["users", "sections"]):
                filtered = await walker.pages(path, f"/{version}/events", {"record_type": record_types})
                assert {event["type"].split(".")[0] for event in filtered} <= set(record_types)
            for school in district.ids["schools"]:
                await walker.pages(path, f"/{version}/events", {"school": school})
        else:
            for event in events:
                status, body = await walker.one(path, f"/{version}/events/{event['id']}")
                assert status == 200
                assert body["data"]["id"] == event["id"]
            unknown = await walker.get(f"/{version}/events/{UNKNOWN_ID}")
            assert unknown.status_code == 404
            walker.check(unknown, definitions.response_schema(path, 404))
        validated += walker.validated
    request.node.user_properties.append(("validated_responses", validated))


# -- OAuth and OpenID Connect ----------------------------------------------------------------
# Clever publishes no Swagger definition for these; the schemas come from Clever's developer
# docs (token exchange and district tokens, the OIDC claims, /userinfo and /v3.0/me), strict in
# the same way: the documented fields, typed, and nothing else.

_STRING = {"type": "string"}
_NAME = {
    "type": "object",
    "properties": {"first": _STRING, "middle": {"type": ["string", "null"]}, "last": _STRING},
    "required": ["first", "last"],
    "additionalProperties": False,
}
_USER_TYPES = ["student", "teacher", "staff", "district_admin", "district admin", "contact"]

TOKEN_ANSWER: JsonSchema = {
    # access_token is the only field Clever documents for certain; token_type, expires_in and
    # scope are named in no Clever example but are standard, so typed if present.
    "type": "object",
    "properties": {
        "access_token": {"type": "string", "minLength": 1},
        "token_type": {"type": "string", "enum": ["bearer", "Bearer"]},
        "expires_in": {"type": "integer"},
        "scope": _STRING,
        "id_token": {"type": "string", "pattern": r"^[\w-]+\.[\w-]+\.[\w-]+$"},
    },
    "required": ["access_token"],
    "additionalProperties": False,
}
OAUTH_ERROR: JsonSchema = {
    "type": "object",
    "properties": {"error": _STRING, "error_description": _STRING},
    "required": ["error"],
    "additionalProperties": False,
}
DISTRICT_TOKENS: JsonSchema = {
    "type": "object",
    "properties": {
        "data": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": _STRING,
                    "created": {"type": "string", "format": "datetime"},
                    "owner": {
                        "type": "object",
                        "properties": {"type": {"const": "district"}, "id": _STRING},
                        "required": ["type", "id"],
                        "additionalProperties": False,
                    },
                    "access_token": {"type": "string", "minLength": 1},
                    "scopes": {"type": "array", "items": {"type": "string", "pattern": "^read:"}},
                },
                "required": ["id", "created", "owner", "access_token", "scopes"],
                "additionalProperties": False,
            },
        },
        "links": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"rel": _STRING, "uri": _STRING},
                "required": ["rel", "uri"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["data", "links"],
    "additionalProperties": False,
}
ID_TOKEN_CLAIMS: JsonSchema = {
    "type": "object",
    "properties": {
        "iss": _STRING,
        "aud": {"anyOf": [_STRING, {"type": "array", "items": _STRING}]},
        "iat": {"type": "integer"},
        "exp": {"type": "integer"},
        "nonce": _STRING,
        "sub": _STRING,
        "multi_role_user_id": _STRING,
        "user_id": _STRING,
        "user_type": {"enum": _USER_TYPES},
        "district": _STRING,
        "email": {"type": ["string", "null"]},
        "email_verified": {"type": "boolean"},
        "given_name": _STRING,
        "family_name": _STRING,
    },
    "required": ["iss", "aud", "iat", "exp", "sub", "multi_role_user_id", "user_id", "user_type", "district"],
    "additionalProperties": False,
}
USERINFO: JsonSchema = {
    "type": "object",
    "properties": {
        "sub": _STRING,
        "user_id": _STRING,
        "multi_role_user_id": _STRING,
        "user_type": {"enum": _USER_TYPES},
        "district_id": _STRING,
        "district": _STRING,
        "email": {"type": ["string", "null"]},
        "name": _NAME,
        "schools": {"type": "array", "items": _STRING},
        "given_name": _STRING,
        "family_name": _STRING,
        "email_verified": {"type": "boolean"},
        "authorized_by": _STRING,
    },
    "required": ["sub", "user_id", "multi_role_user_id", "user_type", "district"],
    "additionalProperties": False,
}
ME: JsonSchema = {
    "type": "object",
    "properties": {
        "type": {"const": "user"},
        "data": {
            "type": "object",
            "properties": {
                "id": _STRING,
                "district": _STRING,
                "type": {"const": "user"},
                "authorized_by": _STRING,
            },
            "required": ["id", "district", "type", "authorized_by"],
            "additionalProperties": False,
        },
        "links": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"rel": {"enum": ["self", "canonical", "district"]}, "uri": _STRING},
                "required": ["rel", "uri"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["type", "data", "links"],
    "additionalProperties": False,
}
# Clever's docs name the discovery URL and its issuer but not the document's contents; the
# required members are those of OpenID Connect Discovery 1.0, which allows more.
OPENID_CONFIGURATION: JsonSchema = {
    "type": "object",
    "properties": {
        "issuer": _STRING,
        "authorization_endpoint": _STRING,
        "token_endpoint": _STRING,
        "userinfo_endpoint": _STRING,
        "jwks_uri": _STRING,
        "response_types_supported": {"type": "array", "items": _STRING, "contains": {"const": "code"}},
        "subject_types_supported": {"type": "array", "items": _STRING},
        "id_token_signing_alg_values_supported": {"type": "array", "items": _STRING, "minItems": 1},
    },
    "required": [
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ],
}
# A JSON Web Key Set (RFC 7517) of public RSA keys: a private member such as `d` fails.
JWKS: JsonSchema = {
    "type": "object",
    "properties": {
        "keys": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "kty": {"const": "RSA"},
                    "kid": _STRING,
                    "use": {"const": "sig"},
                    "alg": _STRING,
                    "n": _STRING,
                    "e": _STRING,
                },
                "required": ["kty", "kid", "n", "e"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["keys"],
    "additionalProperties": False,
}


def json_of(response: httpx.Response, schema: JsonSchema) -> Any:
    where = f"{response.request.method} {response.request.url.raw_path.decode()} ({response.status_code})"
    assert response.headers.get("content-type", "").startswith("application/json"), where
    body = response.json()
    assert_conforms(schema, body, where)
    return body


def jwt_claims(token: str) -> Any:
    """The payload of a compact JWS, unverified: its signature is other tests' business."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


async def authorize(
    client: httpx.AsyncClient, sandbox: RunningSandbox, login_hint: str, **extra: str
) -> httpx.Response:
    """Authorize's answer to a sign-in of `login_hint`, for the first redirect URI."""
    config = sandbox.config
    params = {
        "response_type": "code",
        "client_id": config.client_id,
        "redirect_uri": config.redirect_uris[0],
        "login_hint": login_hint,
        **extra,
    }
    return await client.get("/oauth/authorize", params=params)


async def exchange(
    client: httpx.AsyncClient, sandbox: RunningSandbox, code: str, **extra: str
) -> httpx.Response:
    """The token endpoint's answer to `code`, for the first redirect URI."""
    config = sandbox.config
    body = {
        "code": code,
        "grant_type": "authorization_code",
        "redirect_uri": config.redirect_uris[0],
        **extra,
    }
    return await client.post("/oauth/tokens", json=body, auth=(config.client_id, config.client_secret))


# A PKCE pair (RFC 7636, appendix B), sent as this service sends one: ignored or checked, by mode.
PKCE_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
PKCE_CHALLENGE = {
    "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    "code_challenge_method": "S256",
}


@pytest.mark.parametrize("role", ROLES)
async def test_a_user_login_conforms(sandbox: RunningSandbox, districts: list[District], role: str) -> None:
    config = sandbox.config
    district, user_id = a_user(districts, role)
    redirect_uri = config.redirect_uris[0]
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=30, verify=tls_context()) as client:
        authorized = await authorize(client, sandbox, user_id, state="x", **PKCE_CHALLENGE)
        assert authorized.status_code == 302, authorized.text[:200]
        location = authorized.headers["location"]
        assert location.startswith(redirect_uri)
        query = parse_qs(urlsplit(location).query)
        assert query["state"] == ["x"]
        (code,) = query["code"]

        tokens = json_of(await exchange(client, sandbox, code, code_verifier=PKCE_VERIFIER), TOKEN_ANSWER)
        if sandbox.sandbox.oidc_enabled:
            assert "id_token" in tokens
            claims = jwt_claims(tokens["id_token"])
            assert_conforms(ID_TOKEN_CLAIMS, claims, "the id_token's claims")
            assert claims["sub"] == user_id
            assert claims["aud"] in (config.client_id, [config.client_id])

        again = await exchange(client, sandbox, code)
        assert again.status_code == 400
        assert json_of(again, OAUTH_ERROR)["error"] == "invalid_grant"

        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        userinfo = json_of(await client.get("/userinfo", headers=bearer), USERINFO)
        assert userinfo["sub"] == user_id
        me = json_of(await client.get("/v3.0/me", headers=bearer), ME)
        assert me["data"]["id"] == user_id
        assert me["data"]["district"] == district.district_id


async def test_district_tokens_conform(sandbox: RunningSandbox) -> None:
    config = sandbox.config
    async with httpx.AsyncClient(base_url=sandbox.url, verify=tls_context()) as client:
        answer = await client.get(
            "/oauth/tokens", params={"owner_type": "district"}, auth=(config.client_id, config.client_secret)
        )
        assert answer.status_code == 200
        body = json_of(answer, DISTRICT_TOKENS)
        assert {record["owner"]["type"] for record in body["data"]} == {"district"}
        refused = await client.get(
            "/oauth/tokens", params={"owner_type": "district"}, auth=(config.client_id, "not-the-secret")
        )
        assert refused.status_code in (400, 401)
        json_of(refused, OAUTH_ERROR)


async def test_openid_configuration_and_keys_conform(sandbox: RunningSandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url, verify=tls_context()) as client:
        discovery = await client.get("/.well-known/openid-configuration")
        assert discovery.status_code == 200
        document = json_of(discovery, OPENID_CONFIGURATION)
        # Advertised only where the sandbox checks it: Clever documents no PKCE.
        enforced = sandbox.config.pkce == "enforced"
        assert document.get("code_challenge_methods_supported") == (["S256"] if enforced else None)
        endpoints = {
            "authorization_endpoint": "/oauth/authorize",
            "token_endpoint": "/oauth/tokens",
            "userinfo_endpoint": "/userinfo",
            "jwks_uri": "/oauth/certs",
        }
        for member, suffix in endpoints.items():
            assert urlsplit(document[member]).path == suffix, (member, document[member])
        certs = await client.get(urlsplit(document["jwks_uri"]).path)
        assert certs.status_code == 200
        json_of(certs, JWKS)


# A Library login (authorized by a teacher) has no district: Clever's pages say so of such users,
# and the answers leave the keys out.
_NO_DISTRICT: JsonSchema = {"not": {"anyOf": [{"required": ["district"]}, {"required": ["district_id"]}]}}
LIBRARY_USERINFO: JsonSchema = {
    **USERINFO,
    "required": ["sub", "user_id", "multi_role_user_id", "user_type", "authorized_by"],
    **_NO_DISTRICT,
}
LIBRARY_ME: JsonSchema = {
    **ME,
    "properties": {
        **ME["properties"],
        "data": {**ME["properties"]["data"], "required": ["id", "type", "authorized_by"], **_NO_DISTRICT},
    },
}


async def test_a_library_login_conforms(sandbox: RunningSandbox) -> None:
    store = sandbox.sandbox.store
    library = [login for login in store.demo_logins() if not login.district_id]
    assert {login.user_type for login in library} == {"teacher", "student"}
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=30, verify=tls_context()) as client:
        for login in library:
            authorized = await authorize(client, sandbox, login.user_id, login_role=login.user_type)
            (code,) = parse_qs(urlsplit(authorized.headers["location"]).query)["code"]
            tokens = json_of(await exchange(client, sandbox, code), TOKEN_ANSWER)
            assert "id_token" not in tokens
            bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
            assert (
                json_of(await client.get("/userinfo", headers=bearer), LIBRARY_USERINFO)["sub"]
                == login.user_id
            )
            assert (
                json_of(await client.get("/v3.0/me", headers=bearer), LIBRARY_ME)["data"]["id"]
                == login.user_id
            )

            for version, filename in clever_spec.DATA_FILES.items():
                definitions = clever_spec.load(filename)
                walker = Walker(client, version, definitions)
                client.headers.update(bearer)
                base = f"/{version}/users/{login.user_id}"
                await walker.one("/users/{id}", base)
                sections = await walker.pages(
                    "/users/{id}/sections", f"{base}/sections", {"limit": str(PAGE_SIZE)}
                )
                mine = "/users/{id}/mystudents" if login.user_type == "teacher" else "/users/{id}/myteachers"
                await walker.pages(mine, f"{base}/{mine.rsplit('/', 1)[1]}", {"limit": str(PAGE_SIZE)})
                for item in sections:
                    section = f"/{version}/sections/{item['id']}"
                    await walker.one("/sections/{id}", section)
                    await walker.pages("/sections/{id}/users", f"{section}/users", {"limit": str(PAGE_SIZE)})
                status, _ = await walker.one("/users/{id}", f"/{version}/users/{UNKNOWN_ID}")
                assert status == 404
