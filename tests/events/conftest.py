"""A login backend and an events worker on the shared sandbox and Redis, and ways to watch them."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from app.clever import CleverClient, CleverCredentials, CleverHTTP, RetryPolicy
from app.clever.models import Event
from app.crypto.keyring import Keyring
from app.events.cursor import Cursors
from app.events.deltas import Delta, Deltas
from app.events.effects import ALL_ROLES, Effects
from app.events.health import RosterHealth
from app.events.lock import DistrictLock
from app.events.metrics import EventMetrics
from app.events.worker import EventsWorker, RosterKeeping, WorkerOptions
from app.roster.district_tokens import DistrictTokens
from app.roster.fieldpolicy import parse_student_fields
from app.roster.store import Applied, RosterStore
from app.roster.sync import SyncReport, sync_district
from app.sessions.store import SessionStore
from clever_sandbox.config import SandboxConfig
from tests.conftest import (
    TEST_REDIRECT_URI,
    BackendFactory,
    RunningSandbox,
    remember_sandbox_secrets,
    running_sandbox,
)
from tests.support.backend import SESSION_SECRET, backend_on
from tests.support.browser import Browser
from tests.support.clever import sandbox_clever

POLL = 0.1
DEADLINE = 5.0


async def until(check: Callable[[], Awaitable[bool]], *, deadline: float = DEADLINE, what: str = "") -> None:
    """Poll `check` until it holds; fail after `deadline` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not await check():
        if loop.time() >= end:
            raise AssertionError(f"not within {deadline} s: {what or check}")
        await asyncio.sleep(0.03)


class CountingDeltas(Deltas):
    """The worker's deltas, noting how each event went for the store: the apply script's answer
    ('applied', 'already', ...; None when the event changes nothing in the copy)."""

    def __init__(self, *, store: RosterStore, clever: CleverClient, tokens: DistrictTokens) -> None:
        super().__init__(store=store, clever=clever, tokens=tokens)
        self.outcomes: list[tuple[str, Applied | None]] = []

    async def apply(self, district_id: str, event: Event, lock: DistrictLock) -> Delta:
        delta = await super().apply(district_id, event, lock)
        self.outcomes.append((event.id, delta.applied))
        return delta


@dataclass
class Person:
    """A logged-in browser of the backend."""

    user_id: str
    browser: Browser

    async def session(self) -> httpx.Response:
        return await self.browser.session()

    async def principal(self) -> dict[str, Any]:
        answer = await self.session()
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert isinstance(body, dict)
        return body

    async def logged_out(self) -> bool:
        return (await self.session()).status_code == 401


@dataclass
class Rig:
    sandbox: RunningSandbox
    backend: str
    redis: Redis
    redis_url: str
    key_prefix: str
    clever: CleverClient
    keyring: Keyring
    people: list[Person] = field(default_factory=list)

    @property
    def store(self) -> Any:
        return self.sandbox.sandbox.store

    def sessions(self) -> SessionStore:
        return SessionStore(
            self.redis, self.keyring, idle_timeout=1800, absolute_timeout=8 * 3600, prefix=self.key_prefix
        )

    def tokens(self, clever: CleverClient | None = None) -> DistrictTokens:
        return DistrictTokens(
            self.redis,
            clever or self.clever,
            sealing_key=self.keyring.district_token_sealing,
            prefix=self.key_prefix,
        )

    def cursors(self) -> Cursors:
        return Cursors(self.redis, prefix=self.key_prefix)

    def roster(self, prefix: str | None = None) -> RosterStore:
        """The roster store the worker keeps (`prefix`: another copy beside it, to compare)."""
        return RosterStore(self.redis, self.keyring, prefix=prefix or self.key_prefix)

    async def sync(self, district_id: str, store: RosterStore | None = None) -> SyncReport:
        return await sync_district(
            self.clever,
            self.tokens(),
            store or self.roster(),
            district_id,
            student_fields=parse_student_fields(None),
        )

    def keeping(self, clever: CleverClient | None = None, *, deltas: type[Deltas] = Deltas) -> RosterKeeping:
        """The worker's roster upkeep on `roster()`, syncing with `clever`."""
        store, tokens = self.roster(), self.tokens(clever)

        async def sync(district_id: str) -> SyncReport:
            return await sync_district(
                clever or self.clever, tokens, store, district_id, student_fields=parse_student_fields(None)
            )

        return RosterKeeping(
            store=store,
            deltas=deltas(store=store, clever=clever or self.clever, tokens=tokens),
            sync=sync,
            student_fields=parse_student_fields(None),
        )

    def counted_keeping(self, clever: CleverClient | None = None) -> tuple[RosterKeeping, CountingDeltas]:
        """`keeping()`, with the deltas that note each event's outcome."""
        keeping = self.keeping(clever, deltas=CountingDeltas)
        assert isinstance(keeping.deltas, CountingDeltas)
        return keeping, keeping.deltas

    def worker(
        self,
        metrics: EventMetrics | None = None,
        *,
        clever: CleverClient | None = None,
        effects: type[Effects] = Effects,
        allowed_districts: frozenset[str] | None = None,
        accepted_roles: frozenset[str] = ALL_ROLES,
        clock: Callable[[], float] | None = None,
        roster: RosterKeeping | None = None,
    ) -> EventsWorker:
        metrics = metrics or EventMetrics()
        clever = clever or self.clever
        tokens = self.tokens(clever)
        extra: dict[str, Any] = {"clock": clock} if clock is not None else {}
        return EventsWorker(
            clever=clever,
            tokens=tokens,
            cursors=self.cursors(),
            effects=effects(
                sessions=self.sessions(),
                clever=clever,
                tokens=tokens,
                metrics=metrics,
                student_fields=parse_student_fields(None),
                accepted_roles=accepted_roles,
                roster=roster.store if roster is not None else None,
            ),
            metrics=metrics,
            options=WorkerOptions(poll_interval=POLL, allowed_districts=allowed_districts),
            roster=roster,
            **extra,
        )

    def health(
        self,
        worker: EventsWorker,
        metrics: EventMetrics,
        *,
        max_events_lag: float = 120.0,
    ) -> RosterHealth:
        """The worker's roster metrics and readiness (as app.events.process builds them), read
        from Redis afresh at every call."""
        return RosterHealth(
            store=self.roster(),
            cursors=self.cursors(),
            registry=metrics.registry,
            districts=lambda: worker.districts,
            started=lambda: worker.last_cycle_at is not None,
            max_events_lag=max_events_lag,
            refresh_seconds=0.0,
        )

    async def log_in(self, user_id: str) -> Person:
        browser = Browser(self.backend)
        landed = await browser.login(user_id)
        assert landed.response.status_code == 302, landed.response.text
        person = Person(user_id, browser)
        self.people.append(person)
        return person

    async def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with httpx.AsyncClient(base_url=self.sandbox.url) as http:
            response = await http.request(method, path, json=body)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    async def cursor(self, district_id: str) -> dict[str, Any] | None:
        raw = await self.redis.get(self.cursors().key(district_id))
        if raw is None:
            return None
        value = json.loads(raw)
        assert isinstance(value, dict)
        return value

    async def keys_without_ttl(self) -> list[str]:
        return [
            key.decode()
            async for key in self.redis.scan_iter(match=f"{self.key_prefix}*")
            if await self.redis.ttl(key) == -1
        ]

    def newest_event_id(self) -> str:
        events = self.store.events()
        assert events, "the sandbox has no events"
        event_id = events[-1]["id"]
        assert isinstance(event_id, str)
        return event_id


RigFactory = Callable[..., contextlib.AbstractAsyncContextManager[Rig]]


@pytest.fixture
def make_rig(
    sandbox: RunningSandbox, make_backend: BackendFactory, redis: Redis, redis_url: str, key_prefix: str
) -> RigFactory:
    """A Rig whose backend has these extra settings (e.g. `ALLOWED_ROLES="teacher"`); `on`: a
    sandbox other than the shared one (`sandbox_in_mode`)."""

    @contextlib.asynccontextmanager
    async def start(on: RunningSandbox | None = None, **backend_settings: str) -> AsyncIterator[Rig]:
        at = on or sandbox
        started = (
            backend_on(at, redis_url=redis_url, key_prefix=key_prefix, extra=backend_settings)
            if on is not None
            else make_backend(**backend_settings)
        )
        with started as backend:
            async with sandbox_clever(at.url, at.config) as clever:
                made = Rig(
                    sandbox=at,
                    backend=backend,
                    redis=redis,
                    redis_url=redis_url,
                    key_prefix=key_prefix,
                    clever=clever,
                    keyring=Keyring.from_secret(SESSION_SECRET),
                )
                try:
                    yield made
                finally:
                    for person in made.people:
                        await person.browser.http.aclose()

    return start


@pytest.fixture
async def rig(make_rig: RigFactory) -> AsyncIterator[Rig]:
    async with make_rig() as made:
        yield made


@pytest.fixture(scope="session")
def mode_sandboxes() -> Iterator[Callable[[SandboxConfig], RunningSandbox]]:
    """Sandboxes in other modes than the shared one's (README, "Sandbox modes"), each started
    at its first use and kept for the run."""
    started: dict[SandboxConfig, RunningSandbox] = {}
    with contextlib.ExitStack() as stack:

        def get(config: SandboxConfig) -> RunningSandbox:
            if config not in started:
                started[config] = stack.enter_context(running_sandbox(config))
            return started[config]

        yield get
        for running_one in started.values():
            remember_sandbox_secrets(running_one.sandbox)


@pytest.fixture
async def sandbox_in_mode(
    request: pytest.FixtureRequest, mode_sandboxes: Callable[[SandboxConfig], RunningSandbox]
) -> AsyncIterator[RunningSandbox]:
    """A sandbox with the `SandboxConfig` fields in the test's parameter (indirect), put back
    to its seeded district afterwards."""
    fields: dict[str, Any] = request.param
    running_one = mode_sandboxes(SandboxConfig(redirect_uris=(TEST_REDIRECT_URI,), **fields))
    yield running_one
    remember_sandbox_secrets(running_one.sandbox)
    async with httpx.AsyncClient(base_url=running_one.url) as client:
        (await client.post("/sandbox/reset")).raise_for_status()


@pytest.fixture
async def no_retry_clever(sandbox: RunningSandbox) -> AsyncIterator[CleverClient]:
    """A client that gives up at once, so that the worker's own backoff is what is seen."""
    oauth, api = CleverHTTP(sandbox.url), CleverHTTP(sandbox.url)
    try:
        yield CleverClient(
            oauth=oauth,
            api=api,
            credentials=CleverCredentials(sandbox.config.client_id, sandbox.config.client_secret),
            retry=RetryPolicy(attempts=1),
        )
    finally:
        await oauth.aclose()
        await api.aclose()


@contextlib.asynccontextmanager
async def running(worker: EventsWorker) -> AsyncIterator[asyncio.Task[None]]:
    """The worker's loop as a task; stopped (or cancelled) on exit."""
    task = asyncio.create_task(worker.run())
    try:
        yield task
    finally:
        worker.stop()
        try:
            async with asyncio.timeout(5):
                await task
        except (asyncio.CancelledError, TimeoutError):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
