"""The Clever client: OAuth host calls, the identity endpoints and the Data API (v3.1)."""

from __future__ import annotations

import base64
import copy
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, urlsplit

from pydantic import BaseModel, ValidationError

from app.clever.breaker import BreakerPolicy
from app.clever.budget import RateBudget
from app.clever.calls import Caller
from app.clever.errors import CleverMalformed
from app.clever.http import DEFAULT_BODY_LIMIT, CleverHTTP, Param, Params, origin
from app.clever.models import (
    JWKS,
    Course,
    District,
    DistrictToken,
    DistrictTokens,
    Envelope,
    Event,
    EventPage,
    Me,
    MeResponse,
    OpenIDConfiguration,
    Page,
    Resource,
    School,
    Section,
    Term,
    TokenResponse,
    User,
    UserInfo,
)
from app.clever.observer import CleverObserver
from app.clever.retry import RetryPolicy

logger = logging.getLogger("app.clever")

M = TypeVar("M", bound=BaseModel)

DATA_API = "/v3.1"


@dataclass(frozen=True, slots=True)
class CleverCredentials:
    """The app's Clever OAuth client; the secret never appears in a repr."""

    client_id: str
    client_secret: str = field(repr=False)


class CleverClient:
    """Every call this service makes to Clever, typed at the edge.

    `oauth` is the long-lived pooled client for the OAuth host (`https://clever.com`), `api` the
    one for the API host (`https://api.clever.com`); make them (`CleverHTTP`) once,
    in the lifespan, and close them there: this class never creates or closes a client.

    Only GETs are retried, per `retry`: on connect errors, timeouts, 500/502/503/504, and on 429
    after waiting for `X-RateLimit-Reset` when that is near. The code exchange is never retried.
    Each attempt, body included, must finish within `attempt_timeout` seconds, and each call,
    retries and waits included, within `call_timeout`; bodies over `body_limit` bytes, or not
    JSON, raise CleverMalformed. List calls follow `next` links to the end and ask for
    `page_size` items per page (`None` sends no `limit`: user tokens cannot use it).

    Each host has a circuit breaker (`breaker`): after a run of failed attempts, calls to it
    fail at once with CleverUnavailable (`retry_after` set) until a probe succeeds. Calls on a
    token registered with `budget.track` spend that token's rate budget knowingly (see
    `app.clever.budget`); a spent budget raises CleverRateLimited without calling Clever.
    `observer`, when given, hears of every attempt. Everything raised is a `CleverError`.
    """

    def __init__(
        self,
        *,
        oauth: CleverHTTP,
        api: CleverHTTP,
        credentials: CleverCredentials,
        retry: RetryPolicy | None = None,
        page_size: int | None = 1000,
        body_limit: int = DEFAULT_BODY_LIMIT,
        attempt_timeout: float = 15.0,
        call_timeout: float = 30.0,
        breaker: BreakerPolicy | None = None,
        budget: RateBudget | None = None,
        observer: CleverObserver | None = None,
    ) -> None:
        self._oauth = oauth
        self._api = api
        self._page_size = page_size
        # HTTP Basic with the app's id and secret, for the OAuth host's token endpoints.
        pair = f"{credentials.client_id}:{credentials.client_secret}".encode()
        self.budget = budget if budget is not None else RateBudget()
        self._calls = Caller(
            oauth=oauth,
            api=api,
            basic_auth="Basic " + base64.b64encode(pair).decode("ascii"),
            retry=retry if retry is not None else RetryPolicy(),
            body_limit=body_limit,
            attempt_timeout=attempt_timeout,
            call_timeout=call_timeout,
            breaker=breaker,
            budget=self.budget,
            observer=observer,
        )

    def with_body_limit(self, body_limit: int) -> CleverClient:
        """This client reading answers of up to `body_limit` bytes: the same hosts, rate budget,
        circuit breakers and observer, so its calls count where this client's count (a bulk
        sync's pages of 10,000 users, beside logins that keep the smaller limit)."""
        other = copy.copy(self)
        other._calls = self._calls.with_body_limit(body_limit)
        return other

    # OAuth host

    async def exchange_code(
        self, code: str, redirect_uri: str, code_verifier: str | None = None
    ) -> TokenResponse:
        """POST /oauth/tokens, once: a code redeems once, so a failed exchange needs a new login."""
        body = {"code": code, "grant_type": "authorization_code", "redirect_uri": redirect_uri}
        if code_verifier is not None:
            body["code_verifier"] = code_verifier
        raw = await self._calls.once(
            self._oauth, "POST", "/oauth/tokens", operation="exchange_code", json_body=body, basic=True
        )
        return _parse(TokenResponse, raw, "exchange_code")

    async def district_tokens(self, district_id: str | None = None) -> list[DistrictToken]:
        """The district-app tokens of this app (one per district connection), or one district's."""
        params: list[Param] = [("owner_type", "district")]
        if district_id is not None:
            params.append(("district", district_id))
        raw = await self._calls.get(
            self._oauth, "/oauth/tokens", operation="district_tokens", params=params, basic=True
        )
        return _parse(DistrictTokens, raw, "district_tokens").data

    async def openid_configuration(self) -> OpenIDConfiguration:
        raw = await self._calls.get(
            self._oauth, "/.well-known/openid-configuration", operation="openid_configuration"
        )
        return _parse(OpenIDConfiguration, raw, "openid_configuration")

    async def jwks(self, jwks_uri: str | None = None) -> JWKS:
        """The signing keys at `jwks_uri` (by default the one discovery names); only on a Clever host."""
        if jwks_uri is None:
            jwks_uri = (await self.openid_configuration()).jwks_uri
        http, path = self._route(jwks_uri, "jwks")
        return _parse(JWKS, await self._calls.get(http, path, operation="jwks"), "jwks")

    # Identity (user token)

    async def me(self, token: str) -> Me:
        raw = await self._calls.get(self._api, "/v3.0/me", operation="me", token=token)
        return _parse(MeResponse, raw, "me").data

    async def userinfo(self, token: str) -> UserInfo:
        raw = await self._calls.get(self._api, "/userinfo", operation="userinfo", token=token)
        return _parse(UserInfo, raw, "userinfo")

    # Data API (a user token for the user's own objects, else the district-app token)

    async def user(self, token: str, user_id: str) -> User:
        raw = await self._calls.get(self._api, _path("users", user_id), operation="user", token=token)
        return _parse(Envelope[User], raw, "user").data

    async def users(self, token: str, *, role: str | None = None, limit: int | None = None) -> list[User]:
        params: Params = [("role", role)] if role is not None else []
        return await self._collect(token, _path("users"), User, "users", params=params, limit=limit)

    async def user_sections(self, token: str, user_id: str, *, limit: int | None = None) -> list[Section]:
        path = _path("users", user_id, "sections")
        return await self._collect(token, path, Section, "user_sections", limit=limit)

    async def user_resources(self, token: str, user_id: str, *, limit: int | None = None) -> list[Resource]:
        path = _path("users", user_id, "resources")
        return await self._collect(token, path, Resource, "user_resources", limit=limit)

    async def user_schools(self, token: str, user_id: str, *, limit: int | None = None) -> list[School]:
        path = _path("users", user_id, "schools")
        return await self._collect(token, path, School, "user_schools", limit=limit)

    async def user_students(self, token: str, user_id: str, *, limit: int | None = None) -> list[User]:
        """A teacher's or a contact's students (`/mystudents`); empty for other roles."""
        path = _path("users", user_id, "mystudents")
        return await self._collect(token, path, User, "user_students", limit=limit)

    async def resource_users(self, token: str, resource_id: str, *, limit: int | None = None) -> list[User]:
        """The users a resource is shared with, directly or through their sections."""
        path = _path("resources", resource_id, "users")
        return await self._collect(token, path, User, "resource_users", limit=limit)

    # Whole collections (the district-app token): what a full roster sync reads.

    async def sections(self, token: str, *, limit: int | None = None) -> list[Section]:
        return await self._collect(token, _path("sections"), Section, "sections", limit=limit)

    async def resources(self, token: str, *, limit: int | None = None) -> list[Resource]:
        return await self._collect(token, _path("resources"), Resource, "resources", limit=limit)

    async def schools(self, token: str, *, limit: int | None = None) -> list[School]:
        return await self._collect(token, _path("schools"), School, "schools", limit=limit)

    async def courses(self, token: str, *, limit: int | None = None) -> list[Course]:
        return await self._collect(token, _path("courses"), Course, "courses", limit=limit)

    async def terms(self, token: str, *, limit: int | None = None) -> list[Term]:
        return await self._collect(token, _path("terms"), Term, "terms", limit=limit)

    async def resource_sections(
        self, token: str, resource_id: str, *, limit: int | None = None
    ) -> list[Section]:
        """The sections a resource is shared with."""
        path = _path("resources", resource_id, "sections")
        return await self._collect(token, path, Section, "resource_sections", limit=limit)

    async def district(self, token: str, district_id: str) -> District:
        raw = await self._calls.get(
            self._api, _path("districts", district_id), operation="district", token=token
        )
        return _parse(Envelope[District], raw, "district").data

    async def events(
        self,
        token: str,
        *,
        starting_after: str | None = None,
        ending_before: str | None = None,
        limit: int | None = None,
        record_types: Iterable[str] = (),
    ) -> EventPage:
        """One page of events after `starting_after` (oldest first); resume from its `cursor`.

        `ending_before` pages backwards instead: the `limit` events just before that id, still
        oldest first; `ending_before="last"` with `limit=1` asks for the newest event (a form
        Clever does not document: app.roster.sync.newest_event_id walks the stream when refused).
        """
        params: list[Param] = [("record_type", record) for record in record_types]
        size = limit if limit is not None else self._page_size
        if size is not None:
            params.append(("limit", size))
        if starting_after is not None:
            params.append(("starting_after", starting_after))
        if ending_before is not None:
            params.append(("ending_before", ending_before))
        raw = await self._calls.get(
            self._api, _path("events"), operation="events", token=token, params=params
        )
        # The page must parse; one event in it that does not is passed over (and said), or a
        # single odd record would hold up the district's whole stream for ever.
        page = _parse(Page[dict[str, Any]], raw, "events")
        events: list[Event] = []
        unreadable: list[tuple[str, str]] = []  # (type, problem) of each event passed over
        cursor = starting_after
        for item in page.items:
            try:
                events.append(Event.model_validate(item))
            except ValidationError as exc:
                unreadable.append((str(item.get("type"))[:64], _problems(exc)))
            if isinstance(item.get("id"), str) and item["id"]:
                cursor = item["id"]
        if unreadable:
            # One line a page, however many: the first one's type and problem, and how many.
            logger.warning(
                "events Clever sent do not parse; they are passed over",
                extra={
                    "event": "clever_event_unreadable",
                    "type": unreadable[0][0],
                    "problem": unreadable[0][1],
                    "count": len(unreadable),
                },
            )
        return EventPage(
            events=events,
            cursor=cursor,
            has_more=bool(page.items) and page.next_uri is not None,
            read=len(page.items),
            skipped=len(page.items) - len(events),
        )

    # Plumbing

    async def _collect(
        self,
        token: str,
        path: str,
        model: type[M],
        operation: str,
        *,
        params: Params | None = None,
        limit: int | None = None,
    ) -> list[M]:
        """Every item of a list, following `next` until it is absent, a page comes back empty, or a
        page holds fewer items than the `limit` asked for. Clever honours any limit up to 10000, so
        a short page is the last one, and stopping there saves a sequential round trip per login
        (Clever's `next` link is there even when nothing follows)."""
        size = limit if limit is not None else self._page_size
        first = list(params or [])
        if size is not None:
            first.append(("limit", size))
        query: Params | None = first
        page_model: type[Page[M]] = Page[model]  # type: ignore[valid-type]
        items: list[M] = []
        http, url = self._api, path
        seen = {url}
        while True:
            raw = await self._calls.get(http, url, operation=operation, token=token, params=query)
            page = _parse(page_model, raw, operation)
            if not page.data:
                return items
            items.extend(page.items)
            if page.next_uri is None or (size is not None and len(page.data) < size):
                return items
            http, url = self._route(page.next_uri, operation)
            if url in seen:
                raise CleverMalformed(operation, "next link repeats a page")
            seen.add(url)
            # A next link carries its own query; keep our page size if it left it out.
            if size is not None and "limit" not in dict(parse_qsl(urlsplit(url).query)):
                query = [("limit", size)]
            else:
                query = None

    def _route(self, uri: str, operation: str) -> tuple[CleverHTTP, str]:
        """The client and path for a link Clever gave us; never a host other than Clever's two."""
        try:
            target = urlsplit(uri)
            where = origin(uri) if target.scheme else None
        except ValueError as exc:  # a malformed port or host
            raise CleverMalformed(operation, "link is not a URL") from exc
        if not uri.isascii() or any(ord(char) < 0x21 for char in uri):
            raise CleverMalformed(operation, "link is not a URL")
        if where is None:
            if target.netloc or not uri.startswith("/"):
                raise CleverMalformed(operation, "link is not a path")
            return self._api, uri
        for http in (self._api, self._oauth):
            if where == http.origin:
                return http, (target.path or "/") + (f"?{target.query}" if target.query else "")
        raise CleverMalformed(operation, "link points off Clever's hosts")


def _path(*segments: str) -> str:
    # Ids go into the path quoted, so an odd id cannot reach another endpoint.
    return DATA_API + "".join("/" + quote(segment, safe="") for segment in segments)


def _parse(model: type[M], raw: bytes, operation: str) -> M:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise CleverMalformed(
            operation, f"answer does not match {model.__name__} ({_problems(exc)})"
        ) from exc


def _problems(exc: ValidationError) -> str:
    # Locations and error types only: the models hide payload values from their errors.
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or '(root)'}: {error['type']}"
        for error in exc.errors(include_url=False, include_input=False)[:3]
    )
