"""Clever's Data API (`/v3.0`, `/v3.1`) and Events API over the sandbox's store.

Every path of Clever's definitions is served for both versions from one table of endpoints.
The token rules are Clever's: a district token sees its own district; a user token sees only
its own user and district, and gets Clever's HTML page on anything that lists or relates
records. Unknown ids, and records of another district, are the same JSON 404.

A Library login's token (authorized by a teacher, no district) reads what the teachers who
installed the app shared: the person's own record, their shared sections, and the people in
those sections (`_LIBRARY_PATHS`); anything else is what any user token gets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from clever_sandbox.errors import SandboxHTTPError, api_error, html_not_found
from clever_sandbox.paging import LAST, PagingError, page_links, parse_page_request, select_page
from clever_sandbox.roster import Roster, section_teacher_ids
from clever_sandbox.state import Sandbox
from clever_sandbox.store import SandboxStore
from clever_sandbox.strictness import hidden_student_fields, missing_scope, reads_resources, resources_granted
from clever_sandbox.tokens import Grant, authenticate
from clever_sandbox.versions import VERSIONS, Version, event_for_version, for_version

Record = dict[str, Any]
Keep = Callable[[Mapping[str, Any]], bool]

NOT_FOUND_MESSAGE = "Resource not found"
# The only Data API paths a user (SSO) token may read, and then only its own user and district.
_USER_TOKEN_PATHS = frozenset({"/users/{id}", "/districts/{id}"})
# What a Library login's token may read: its own user and what its teachers shared.
_LIBRARY_OWN_PATHS = frozenset({"/users/{id}/sections", "/users/{id}/mystudents", "/users/{id}/myteachers"})
_LIBRARY_PATHS = _LIBRARY_OWN_PATHS | {"/users/{id}", "/sections/{id}", "/sections/{id}/users"}
EVENT_RECORD_TYPES = ("courses", "districts", "resources", "schools", "sections", "terms", "users")


@dataclass(frozen=True, slots=True)
class Call:
    """One Data API request, after its token and the record its `{id}` names are checked."""

    store: SandboxStore
    grant: Grant
    record: Record
    options: Mapping[str, Any]  # the endpoint's query options: role (str or None), primary (bool)


@dataclass(frozen=True, slots=True)
class One:
    kind: str
    record: Record | None


@dataclass(frozen=True, slots=True)
class Many:
    kind: str
    records: Sequence[Mapping[str, Any]]
    keep: Keep | None = None


Resolve = Callable[[Call], One | Many]
Choices = Mapping[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    path: str  # as in Clever's definitions, below the version prefix
    root: str  # the kind of record `{id}` names, or of the collection
    resolve: Resolve
    choices: Choices = field(default_factory=dict)  # query enums


def _collection(kind: str) -> Resolve:
    def resolve(call: Call) -> Many:
        district_id = call.grant.district_id
        role = call.options.get("role")
        return Many(
            kind,
            call.store.all(kind),
            lambda record: (
                record.get("district") == district_id and (role is None or role in record["roles"])
            ),
        )

    return resolve


def _districts(call: Call) -> Many:
    district = call.store.district(call.grant.district_id)
    return Many("districts", [district] if district else [])


def _itself(kind: str) -> Resolve:
    return lambda call: One(kind, call.record)


def _linked(kind: str, key: str) -> Resolve:
    """The single record of `kind` whose id the root record holds in `key` (may be null)."""

    def resolve(call: Call) -> One:
        linked_id = call.record.get(key)
        return One(kind, call.store.get(kind, linked_id) if isinstance(linked_id, str) else None)

    return resolve


def _related(kind: str, relation: Callable[..., list[Record]]) -> Resolve:
    """A list of `kind` from a Roster relation of the root record, given the query options."""
    return lambda call: Many(kind, relation(call.store.roster, call.record, **call.options))


def _options(params: Mapping[str, str], choices: Choices) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if "role" in choices:
        options["role"] = params.get("role") or None
    if "primary" in choices:
        options["primary"] = params.get("primary") == "true"
    return options


def _paths(
    root: str,
    *,
    listing: Resolve | None = None,
    choices: Choices | None = None,
    **links: Resolve | tuple[Resolve, Choices],
) -> tuple[Endpoint, ...]:
    """`/{root}` (answered by `listing`, with query enums `choices`), `/{root}/{id}`, and
    `/{root}/{id}/{link}` for each of `links`: what answers it, or that and its query enums."""
    endpoints = [
        Endpoint(f"/{root}", root, listing or _collection(root), choices or {}),
        Endpoint(f"/{root}/{{id}}", root, _itself(root)),
    ]
    for link, answer in links.items():
        resolve, link_choices = answer if isinstance(answer, tuple) else (answer, {})
        endpoints.append(Endpoint(f"/{root}/{{id}}/{link}", root, resolve, link_choices))
    return tuple(endpoints)


_ROLES = ("contact", "district_admin", "staff", "student", "teacher")
_ROLE = {"role": ("student", "teacher")}
_PRIMARY = {"primary": ("", "true")}
_DISTRICT = _linked("districts", "district")

ENDPOINTS: tuple[Endpoint, ...] = (
    *_paths(
        "users",
        choices={"role": _ROLES},
        district=_DISTRICT,
        sections=_related("sections", Roster.sections_of_user),
        resources=_related("resources", Roster.resources_of_user),
        schools=(_related("schools", Roster.schools_of_user), _PRIMARY),
        mystudents=_related("users", Roster.students_of_user),
        myteachers=_related("users", Roster.teachers_of_user),
        mycontacts=_related("users", Roster.contacts_of_user),
    ),
    *_paths(
        "sections",
        course=_linked("courses", "course"),
        district=_DISTRICT,
        resources=_related("resources", Roster.resources_of_section),
        school=_linked("schools", "school"),
        term=_linked("terms", "term_id"),
        users=(_related("users", Roster.users_of_section), _ROLE),
    ),
    *_paths(
        "resources",
        courses=_related("courses", Roster.courses_of_resource),
        sections=_related("sections", Roster.sections_of_resource),
        users=(_related("users", Roster.users_of_resource), _ROLE),
    ),
    *_paths(
        "schools",
        courses=_related("courses", Roster.courses_of_school),
        district=_DISTRICT,
        sections=_related("sections", Roster.sections_of_school),
        terms=_related("terms", Roster.terms_of_school),
        users=(
            _related("users", Roster.users_of_school),
            {"role": ("staff", "student", "teacher"), **_PRIMARY},
        ),
    ),
    *_paths(
        "courses",
        district=_DISTRICT,
        resources=_related("resources", Roster.resources_of_course),
        schools=_related("schools", Roster.schools_of_course),
        sections=_related("sections", Roster.sections_of_course),
    ),
    *_paths(
        "terms",
        district=_DISTRICT,
        schools=_related("schools", Roster.schools_of_term),
        sections=_related("sections", Roster.sections_of_term),
    ),
    *_paths("districts", listing=_districts),
)


# --- answers ---------------------------------------------------------------------------------


def _visible(kind: str, record: Mapping[str, Any], district_id: str) -> bool:
    return (record["id"] if kind == "districts" else record.get("district")) == district_id


def _not_found() -> Response:
    return api_error(404, NOT_FOUND_MESSAGE)


def _hidden(request: Request) -> frozenset[str]:
    sandbox: Sandbox = request.app.state.sandbox
    return hidden_student_fields(sandbox.config)


def _answer_one(
    answer: One, request: Request, grant: Grant, version: Version, *, check: bool = True
) -> Response:
    record = answer.record
    if record is None or (check and not _visible(answer.kind, record, grant.district_id)):
        return _not_found()
    # The definitions' Link allows only self/next/prev, so a single object links to itself only.
    links = [{"rel": "self", "uri": f"/{version}/{answer.kind}/{record['id']}"}]
    shown = for_version(answer.kind, record, version, _hidden(request))
    return JSONResponse({"data": shown, "links": links})


def _answer_many(answer: Many, request: Request, version: Version) -> Response:
    try:
        page_request = parse_page_request(request.query_params)
    except PagingError as exc:
        return api_error(exc.status, exc.message)
    page = select_page(answer.records, page_request, answer.keep)
    hidden = _hidden(request)
    items = [{"data": for_version(answer.kind, record, version, hidden)} for record in page]
    links = page_links(request.url.path, request.query_params.multi_items(), page)
    return JSONResponse({"data": items, "links": links})


def _bad_choice(params: Mapping[str, str], choices: Choices) -> Response | None:
    for name, allowed in choices.items():
        value = params.get(name)
        if value is not None and value not in allowed:
            return api_error(
                400, f"invalid {name}: {value!r}; expected one of {', '.join(map(repr, allowed))}"
            )
    return None


def _authenticated(request: Request, answer: Callable[[Sandbox, Grant], Response]) -> Response:
    sandbox: Sandbox = request.app.state.sandbox
    try:
        grant, rate = authenticate(sandbox.tokens, sandbox.limiter, request.headers)
        response = answer(sandbox, grant)
    except SandboxHTTPError as exc:
        return exc.response
    response.headers.update(rate.headers())
    return response


def _data_route(version: Version, endpoint: Endpoint) -> Route:
    with_id = "{id}" in endpoint.path

    def answer(request: Request, sandbox: Sandbox, grant: Grant) -> Response:
        record_id = request.path_params.get("id", "")
        if reads_resources(endpoint.path) and not resources_granted(sandbox.config):
            return missing_scope(sandbox.config)
        if grant.authorized_by == "teacher":
            return _library_answer(request, sandbox, grant, endpoint, version)
        if grant.kind == "user":
            # Clever answers a user token outside its own user and district with its HTML page
            # for lists and related records, and with a JSON 404 for other single records.
            if endpoint.path not in _USER_TOKEN_PATHS:
                return html_not_found()
            own = grant.user_id if endpoint.root == "users" else grant.district_id
            if record_id != own:
                return _not_found()
        bad = _bad_choice(request.query_params, endpoint.choices)
        if bad is not None:
            return bad
        record: Record = {}
        if with_id:
            found = sandbox.store.get(endpoint.root, record_id)
            if found is None or not _visible(endpoint.root, found, grant.district_id):
                return _not_found()
            record = found
        call = Call(sandbox.store, grant, record, _options(request.query_params, endpoint.choices))
        result = endpoint.resolve(call)
        if isinstance(result, One):
            return _answer_one(result, request, grant, version)
        return _answer_many(result, request, version)

    async def handle(request: Request) -> Response:
        return _authenticated(request, lambda sandbox, grant: answer(request, sandbox, grant))

    return Route(f"/{version}{endpoint.path}", handle, methods=["GET"], name=f"{version}{endpoint.path}")


def _library_answer(
    request: Request, sandbox: Sandbox, grant: Grant, endpoint: Endpoint, version: Version
) -> Response:
    """A Library login's read: only within the sections its teachers shared with the app."""
    if endpoint.path not in _LIBRARY_PATHS:
        return html_not_found()
    bad = _bad_choice(request.query_params, endpoint.choices)
    if bad is not None:
        return bad
    assert grant.user_id is not None
    store, record_id = sandbox.store, request.path_params.get("id", "")
    shared = store.library_sections(grant.user_id)
    if endpoint.root == "sections":
        found = next((section for section in shared if section["id"] == record_id), None)
        if found is None:
            return _not_found()
        if endpoint.path == "/sections/{id}":
            return _answer_one(One("sections", found), request, grant, version, check=False)
        users = store.roster.users_of_section(found, **_options(request.query_params, endpoint.choices))
        return _answer_many(Many("users", users), request, version)
    people = {grant.user_id} | {
        person
        for section in shared
        for person in [*section_teacher_ids(section), *(section.get("students") or [])]
    }
    user = store.user(record_id) if record_id in people else None
    if user is None or (endpoint.path in _LIBRARY_OWN_PATHS and record_id != grant.user_id):
        return _not_found()
    if endpoint.path == "/users/{id}":
        return _answer_one(One("users", user), request, grant, version, check=False)
    if endpoint.path == "/users/{id}/sections":
        return _answer_many(Many("sections", shared), request, version)
    role = "student" if endpoint.path == "/users/{id}/mystudents" else "teacher"
    mine = [
        section
        for section in shared
        if grant.user_id in _people_of(section, "teacher" if role == "student" else "student")
    ]
    ids = {person for section in mine for person in _people_of(section, role)}
    found_users = [found for person in sorted(ids) if (found := store.user(person)) is not None]
    return _answer_many(Many("users", found_users), request, version)


def _people_of(section: Mapping[str, Any], role: str) -> list[str]:
    return section_teacher_ids(section) if role == "teacher" else list(section.get("students") or [])


# --- events ----------------------------------------------------------------------------------


def _event_school_ids(event: Mapping[str, Any]) -> set[str]:
    """The schools an event's object belongs to, for the `school` filter."""
    kind = str(event["type"]).partition(".")[0]
    obj = event["data"]["object"]
    if kind == "schools":
        return {obj["id"]}
    if kind == "users":
        return {
            school
            for role in obj.get("roles", {}).values()
            if isinstance(role, dict)
            for school in [*(role.get("schools") or []), role.get("school")]
            if school
        }
    school = obj.get("school")
    return {school} if school else set()


def _event_keep(grant: Grant, request: Request, version: Version) -> Keep:
    record_types = {kind.removesuffix("s") + "s" for kind in request.query_params.getlist("record_type")}
    school = request.query_params.get("school")
    sandbox: Sandbox = request.app.state.sandbox
    hidden, resources = _hidden(request), resources_granted(sandbox.config)

    def keep(event: Mapping[str, Any]) -> bool:
        kind = str(event["type"]).partition(".")[0]
        if record_types and kind not in record_types:
            return False
        if kind == "resources" and not resources:
            return False  # outside the app's scopes
        if not _visible(kind, event["data"]["object"], grant.district_id):
            return False
        if school and school not in _event_school_ids(event):
            return False
        return event_for_version(event, version, hidden) is not None

    return keep


def _events_routes(version: Version) -> list[BaseRoute]:
    def events(request: Request, sandbox: Sandbox, grant: Grant) -> Response:
        if grant.kind == "user":
            return html_not_found()
        unknown = [
            value
            for value in request.query_params.getlist("record_type")
            if value.removesuffix("s") + "s" not in EVENT_RECORD_TYPES
        ]
        if unknown:
            return api_error(400, f"invalid record_type: {unknown[0]!r}")
        try:
            page_request = parse_page_request(request.query_params)
        except PagingError as exc:
            return api_error(exc.status, exc.message)
        if page_request.ending_before == LAST and sandbox.config.events_ending_before_last == "refused":
            # Not an event id, and no Clever page documents the form (SandboxConfig).
            return api_error(400, f"invalid ending_before: {LAST!r}; expected an event id")
        page = select_page(sandbox.store.events(), page_request, _event_keep(grant, request, version))
        hidden = _hidden(request)
        items = [{"data": event_for_version(event, version, hidden)} for event in page]
        links = page_links(request.url.path, request.query_params.multi_items(), page)
        return JSONResponse({"data": items, "links": links})

    def event(request: Request, sandbox: Sandbox, grant: Grant) -> Response:
        if grant.kind == "user":
            return html_not_found()
        found = sandbox.store.event(request.path_params["id"])
        if found is None:
            return _not_found()
        kind = str(found["type"]).partition(".")[0]
        shown = event_for_version(found, version, _hidden(request))
        hidden_kind = kind == "resources" and not resources_granted(sandbox.config)
        if shown is None or hidden_kind or not _visible(kind, found["data"]["object"], grant.district_id):
            return _not_found()
        links = [{"rel": "self", "uri": f"/{version}/events/{found['id']}"}]
        return JSONResponse({"data": shown, "links": links})

    async def list_events(request: Request) -> Response:
        return _authenticated(request, lambda sandbox, grant: events(request, sandbox, grant))

    async def get_event(request: Request) -> Response:
        return _authenticated(request, lambda sandbox, grant: event(request, sandbox, grant))

    return [
        Route(f"/{version}/events", list_events, methods=["GET"]),
        Route(f"/{version}/events/{{id}}", get_event, methods=["GET"]),
    ]


def data_api_routes() -> list[BaseRoute]:
    """Every Data API and Events API path of Clever's v3.0 and v3.1 definitions."""
    routes: list[BaseRoute] = []
    for version in VERSIONS:
        routes += _events_routes(version)
        routes += [_data_route(version, endpoint) for endpoint in ENDPOINTS]
    return routes
