from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.clever import CleverClient, CleverNotFound, CleverUnauthorized, CleverUnavailable
from app.crypto.keyring import Keyring
from app.roster.district_tokens import DistrictNotConnected, DistrictTokens
from app.roster.fetch import Roster, fetch_roster
from app.roster.fieldpolicy import DEFAULT_STUDENT_FIELDS
from app.roster.principal import build_principal
from clever_sandbox import create_sandbox_app
from clever_sandbox.config import SandboxConfig
from clever_sandbox.district import DemoLogin
from clever_sandbox.state import Sandbox
from clever_sandbox.store import SandboxStore
from tests.clever.sandbox_control import add_fault
from tests.conftest import TEST_REDIRECT_URI, RunningSandbox
from tests.support.clever import count_requests, requests_seen, sandbox_clever
from tests.support.servers import serve_in_thread

SEALING_KEY = Keyring.from_secret("a roster test secret that is long enough").district_token_sealing
USERS = "/v3.1/users/*"


@dataclass
class Fetcher:
    clever: CleverClient
    tokens: DistrictTokens

    async def __call__(self, login: DemoLogin, *, hint: str | None = None) -> Roster:
        return await fetch_roster(
            self.clever,
            self.tokens,
            user_id=login.user_id,
            district_id=login.district_id,
            login_user_type=hint,
        )


@pytest.fixture
async def fetcher(sandbox: RunningSandbox, redis: Redis, key_prefix: str) -> AsyncIterator[Fetcher]:
    async with sandbox_clever(sandbox.url, sandbox.config) as clever:
        yield Fetcher(clever, DistrictTokens(redis, clever, sealing_key=SEALING_KEY, prefix=key_prefix))


def login_of(store: SandboxStore, user_type: str) -> DemoLogin:
    return next(login for login in store.demo_logins() if login.user_type == user_type)


def expected_students(store: SandboxStore, contact_id: str) -> list[str]:
    """The students a contact's `student_relationships` name, as the store holds them."""
    user = store.user(contact_id)
    assert user is not None
    linked = {link["student"] for link in user["roles"]["contact"]["student_relationships"]}
    return sorted(i for i in linked if (s := store.user(i)) is not None and "student" in s["roles"])


# -- what the roster holds -------------------------------------------------------------------


@pytest.mark.parametrize("hinted", [False, True], ids=["no-login-role", "login-role"])
async def test_every_demo_user_gets_what_the_sandbox_holds(
    sandbox: RunningSandbox, fetcher: Fetcher, hinted: bool
) -> None:
    store = sandbox.sandbox.store
    # District logins: a Library login reads with its own token (tests/login/test_library_logins.py).
    logins = [login for login in store.demo_logins() if login.district_id]
    assert {login.user_type for login in logins} >= {
        "student",
        "teacher",
        "staff",
        "district_admin",
        "contact",
    }
    assert len({login.district_id for login in logins}) >= 2
    empty = 0
    for login in logins:
        record = store.user(login.user_id)
        assert record is not None
        roster = await fetcher(login, hint=login.user_type if hinted else None)
        what = f"{login.user_type} {login.label}"

        assert roster.user.id == login.user_id, what
        assert roster.user.district == login.district_id, what
        assert roster.user.roles.names == [r for r in ("district_admin", "staff", "teacher", "student",
                                                       "contact") if r in record["roles"]], what  # fmt: skip
        assert [s.id for s in roster.sections] == [s["id"] for s in store.roster.sections_of_user(record)], (
            what
        )
        assert [r.id for r in roster.resources] == [
            r["id"] for r in store.roster.resources_of_user(record)
        ], what
        if "contact" in record["roles"]:
            assert [s.id for s in roster.students] == expected_students(store, login.user_id), what
            assert roster.students, what
        else:
            assert roster.students == [], what
        empty += not roster.sections
    assert empty > 0, "some demo user should have no sections"


async def test_a_contacts_principal_summarises_the_fetched_students(
    sandbox: RunningSandbox, fetcher: Fetcher
) -> None:
    store = sandbox.sandbox.store
    login = login_of(store, "contact")
    roster = await fetcher(login, hint="contact")
    principal = build_principal(
        roster.user,
        roster.sections,
        roster.resources,
        login_user_type="contact",
        student_fields=DEFAULT_STUDENT_FIELDS,
        students=roster.students,
    )
    summary = principal["roles"]["contact"]["students"]
    assert [s["id"] for s in summary] == expected_students(store, login.user_id)
    for entry in summary:
        record = store.user(entry["id"])
        assert record is not None
        assert entry["name"] == {"first": record["name"]["first"], "last": record["name"]["last"]}
        assert entry["grade"] == record["roles"]["student"].get("grade")


async def test_a_user_with_nothing_shared_gets_empty_lists(sandbox: RunningSandbox, fetcher: Fetcher) -> None:
    store = sandbox.sandbox.store
    district_id = store.district_ids()[0]
    created = store.create_user(
        {
            "district": district_id,
            "name": {"first": "New", "last": "Staff"},
            "roles": {"staff": {"schools": [], "roles": []}},
        }
    )
    roster = await fetcher(DemoLogin(created["id"], "new", district_id, "staff"))
    assert roster.user.id == created["id"]
    assert (roster.sections, roster.resources, roster.students) == ([], [], [])


# -- errors -------------------------------------------------------------------------------------


async def test_a_revoked_district_token_is_replaced_once(sandbox: RunningSandbox, fetcher: Fetcher) -> None:
    teacher = login_of(sandbox.sandbox.store, "teacher")
    old = await fetcher.tokens.get(teacher.district_id)
    sandbox.sandbox.tokens.revoke(old)
    await count_requests(sandbox.url, "/oauth/tokens")
    await count_requests(sandbox.url, USERS)

    roster = await fetcher(teacher)

    assert roster.user.id == teacher.user_id
    assert roster.sections
    assert await requests_seen(sandbox.url, "/oauth/tokens") == 1
    new = sandbox.sandbox.tokens.district_token(teacher.district_id, sandbox.config.client_id)
    assert new != old
    assert await fetcher.tokens.get(teacher.district_id) == new  # the old one is gone from the cache
    # At least one call met the 401, then the whole fetch ran again.
    assert await requests_seen(sandbox.url, USERS) >= 1 + 5


async def test_a_second_401_propagates(sandbox: RunningSandbox, fetcher: Fetcher) -> None:
    teacher = login_of(sandbox.sandbox.store, "teacher")
    await count_requests(sandbox.url, "/oauth/tokens")
    await add_fault(sandbox.url, "/v3.1/users/*/resources", status=401, count=None)

    with pytest.raises(CleverUnauthorized):
        await fetcher(teacher)
    # The first token and exactly one replacement: no loop.
    assert await requests_seen(sandbox.url, "/oauth/tokens") == 2


async def test_other_errors_propagate_as_the_clients_typed_errors(
    sandbox: RunningSandbox, fetcher: Fetcher
) -> None:
    store = sandbox.sandbox.store
    district_id = store.district_ids()[0]
    with pytest.raises(CleverNotFound):
        await fetcher(DemoLogin("5a00000000000000000000ff", "nobody", district_id, "teacher"))

    teacher = login_of(store, "teacher")
    await add_fault(sandbox.url, f"/v3.1/users/{teacher.user_id}", status=503, count=None)
    with pytest.raises(CleverUnavailable):
        await fetcher(teacher)

    with pytest.raises(DistrictNotConnected):
        await fetcher(
            DemoLogin(login_of(store, "teacher").user_id, "x", "5a00000000000000000000ee", "teacher")
        )


async def test_a_part_clever_cannot_give_comes_back_empty_and_named(
    sandbox: RunningSandbox, fetcher: Fetcher
) -> None:
    await add_fault(sandbox.url, "/v3.1/users/*/sections", status=503, count=None)
    await add_fault(sandbox.url, "/v3.1/users/*/resources", status=403, count=None)

    roster = await fetcher(login_of(sandbox.sandbox.store, "teacher"))

    assert roster.sections == []
    assert roster.resources == []
    assert roster.unavailable == {"sections", "resources"}
    assert roster.principal(login_user_type=None, student_fields=frozenset())["roster"]["unavailable"] == [
        "sections",
        "resources",
    ]


# -- concurrency and call counts, seen by the sandbox ------------------------------------------


@dataclass
class Observed:
    """Requests to `/v3.1/users/...` as the sandbox sees them: in order, and how many at once."""

    log: list[tuple[str, str]] = field(default_factory=list)  # ("start" | "end", path?query)
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.log.clear()
            self.most_in_flight = 0

    def calls(self, suffix: str) -> int:
        """First-page requests to the endpoint ending in `suffix` (`""` for `/users/{id}`)."""
        return sum(
            1
            for kind, target in self.log
            if kind == "start" and _endpoint(target) == suffix and "starting_after=" not in target
        )

    def requests(self) -> int:
        return sum(1 for kind, _ in self.log if kind == "start")

    def index(self, kind: str, suffix: str) -> int:
        return next(i for i, (k, target) in enumerate(self.log) if k == kind and _endpoint(target) == suffix)


def _endpoint(target: str) -> str:
    parts = target.partition("?")[0].split("/")  # "", "v3.1", "users", id, [sub]
    return parts[4] if len(parts) > 4 else ""


class InFlight:
    """A test-only ASGI wrapper around the sandbox app that records Data API user requests."""

    def __init__(self, app: ASGIApp, observed: Observed) -> None:
        self.app = app
        self.observed = observed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v3.1/users/"):
            await self.app(scope, receive, send)
            return
        target = scope["path"] + "?" + scope["query_string"].decode()
        seen = self.observed
        with seen.lock:
            seen.log.append(("start", target))
            seen.in_flight += 1
            seen.most_in_flight = max(seen.most_in_flight, seen.in_flight)
        ended = False

        def end() -> None:
            nonlocal ended
            if not ended:
                ended = True
                with seen.lock:
                    seen.log.append(("end", target))
                    seen.in_flight -= 1

        async def sending(message: Message) -> None:
            # Noted before the last byte leaves, so nothing the client does next can come first.
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                end()
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            end()


@dataclass(frozen=True)
class ObservedSandbox:
    url: str
    sandbox: Sandbox
    observed: Observed


@pytest.fixture(scope="module")
def observed_sandbox() -> Iterator[ObservedSandbox]:
    app = create_sandbox_app(SandboxConfig(redirect_uris=(TEST_REDIRECT_URI,)))
    observed = Observed()
    with serve_in_thread(InFlight(app, observed)) as url:
        yield ObservedSandbox(url, app.state.sandbox, observed)


@pytest.fixture
async def observing(
    observed_sandbox: ObservedSandbox, redis: Redis, key_prefix: str
) -> AsyncIterator[tuple[ObservedSandbox, Fetcher]]:
    """The observed sandbox with 100 ms on every `/v3.1/users/...` answer, and a warm token."""
    sandbox = observed_sandbox.sandbox
    async with sandbox_clever(observed_sandbox.url, sandbox.config) as clever:
        fetcher = Fetcher(clever, DistrictTokens(redis, clever, sealing_key=SEALING_KEY, prefix=key_prefix))
        for district_id in sandbox.store.district_ids():
            await fetcher.tokens.get(district_id)
        await add_fault(observed_sandbox.url, USERS, latency_ms=100, count=None)
        observed_sandbox.observed.reset()
        try:
            yield observed_sandbox, fetcher
        finally:
            sandbox.reset()


@pytest.mark.parametrize("user_type", ["student", "teacher", "staff", "district_admin"])
async def test_the_calls_overlap_and_no_one_but_a_contact_asks_for_students(
    observing: tuple[ObservedSandbox, Fetcher], user_type: str
) -> None:
    sandbox, fetch = observing
    seen = sandbox.observed
    await fetch(login_of(sandbox.sandbox.store, user_type))

    assert seen.most_in_flight >= 3, seen.log
    assert (seen.calls(""), seen.calls("sections"), seen.calls("resources")) == (1, 1, 1), seen.log
    assert seen.calls("mystudents") == 0, seen.log


async def test_a_contact_without_a_login_role_asks_for_students_after_the_user(
    observing: tuple[ObservedSandbox, Fetcher],
) -> None:
    sandbox, fetch = observing
    seen = sandbox.observed
    roster = await fetch(login_of(sandbox.sandbox.store, "contact"))

    assert roster.students
    assert seen.most_in_flight >= 3, seen.log
    assert seen.calls("mystudents") == 1, seen.log
    assert seen.index("start", "mystudents") > seen.index("end", ""), seen.log


async def test_a_contact_login_asks_for_students_with_the_rest(
    observing: tuple[ObservedSandbox, Fetcher],
) -> None:
    sandbox, fetch = observing
    seen = sandbox.observed
    login = login_of(sandbox.sandbox.store, "contact")
    roster = await fetch(login, hint="contact")

    assert [s.id for s in roster.students] == expected_students(sandbox.sandbox.store, login.user_id)
    assert seen.most_in_flight == 4, seen.log
    assert seen.index("start", "mystudents") < seen.index("end", ""), seen.log


async def test_what_always_asking_for_students_would_cost_a_teacher(
    observing: tuple[ObservedSandbox, Fetcher],
) -> None:
    """The rejected alternative, measured: a teacher's `/mystudents` is every pupil they teach."""
    sandbox, fetch = observing
    seen = sandbox.observed
    store = sandbox.sandbox.store
    teacher = login_of(store, "teacher")
    record = store.user(teacher.user_id)
    assert record is not None

    without = await fetch(teacher)
    requests_without = seen.requests()
    seen.reset()
    with_students = await fetch(teacher, hint="contact")  # what "always" would do

    assert without.students == with_students.students == []  # fetched, then thrown away
    assert seen.calls("mystudents") == 1
    assert seen.requests() > requests_without
    assert len(store.roster.students_of_user(record)) > 0
