"""What an Events API event does to live sessions.

The worker cannot read a session (only its ticket holds the key), so it works through the
per-user and per-district indexes of `app.sessions.store`: it ends sessions by storage id, and
leaves a freshly built Principal (or a smaller change) beside each live session of a user,
which the next validation of that session applies.

Every effect is idempotent: applying an event twice leaves the same sessions as once (a
refresh reads the roster as it is now; ending or dropping twice changes nothing more).
An event about people with no live session costs no call to Clever. A refresh builds the Principal from the
district's roster copy (app.roster.store), which the worker has just brought up to this event
(app.events.deltas): no call to Clever. Only when the copy lacks the person (or there is no
copy, or it does not unseal) is the roster fetched live, three calls, as a login would.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from app.clever import CleverClient, CleverNotFound
from app.clever.models import ROLE_ORDER, Event, Section
from app.events.metrics import EventMetrics
from app.roster.district_tokens import DistrictTokens
from app.roster.fetch import Roster, fetch_roster
from app.roster.principal import DropResources, PrincipalUpdate
from app.roster.store import RosterStore
from app.sessions.store import SessionStore

logger = logging.getLogger("app.events")

ALL_ROLES = frozenset(ROLE_ORDER)
T = TypeVar("T")


class Effects:
    def __init__(
        self,
        *,
        sessions: SessionStore,
        clever: CleverClient,
        tokens: DistrictTokens,
        metrics: EventMetrics,
        student_fields: frozenset[str],
        accepted_roles: frozenset[str] = ALL_ROLES,
        roster: RosterStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._roster = roster
        self._clock = clock
        self._sessions = sessions
        self._clever = clever
        self._tokens = tokens
        self._metrics = metrics
        self._student_fields = student_fields
        self._accepted_roles = accepted_roles

    async def apply(self, district_id: str, event: Event, *, holders: list[str] | None = None) -> None:
        """Do what `event` means for the district's live sessions; raises the client's errors.
        `holders`: for a resource event, who holds the resource now, when already known."""
        obj = event.data.object
        record, action = event.record_type, event.action
        if record == "users":
            user_id = _object_id(obj)
            if user_id is None:
                return
            if action == "deleted":
                await self.end_users(district_id, [user_id])
            elif action == "updated":
                await self.refresh_users(district_id, [user_id], event.id)
        elif record == "sections":
            await self.refresh_users(
                district_id, _section_people(obj, event.data.previous_attributes), event.id
            )
        elif record == "resources":
            resource_id = _object_id(obj)
            if resource_id is None or not await self._sessions.district_user_hashes(district_id):
                return  # no one in the district is logged in: nothing to ask Clever
            if action in ("created", "updated"):
                if holders is None:
                    users = await self._tokens.call(
                        district_id, lambda token: self._clever.resource_users(token, resource_id)
                    )
                    holders = [user.id for user in users]
                await self.refresh_users(district_id, holders, event.id)
            if action in ("updated", "deleted"):
                # Whoever lost it is named nowhere: every other live session of the district
                # drops it (after the holders' refresh, so theirs never flickers).
                await self.drop_resources(district_id, [resource_id], keep_users=holders or [])
        elif record == "districts" and action == "deleted" and _object_id(obj) == district_id:
            await self.end_district(district_id)

    # -- the effects ----------------------------------------------------------------------

    async def refresh_users(self, district_id: str, user_ids: Iterable[str], event_id: str | None) -> None:
        """Leave each user's live sessions a Principal built from the roster as it is now."""
        for user_id in dict.fromkeys(user_ids):
            storage_ids = await self._sessions.user_storage_ids(user_id)
            if not storage_ids:
                continue
            roster = await self._stored(district_id, user_id)
            if roster is None:
                try:
                    roster = await fetch_roster(
                        self._clever, self._tokens, user_id=user_id, district_id=district_id
                    )
                except CleverNotFound:
                    await self.end_users(district_id, [user_id])
                    continue
            if roster.user.district != district_id or not roster.holds_any(self._accepted_roles):
                await self.end_users(district_id, [user_id])
                continue
            principal = roster.principal(
                login_user_type=None, student_fields=self._student_fields, event_id=event_id
            )
            pushed = await self._sessions.push_update(
                storage_ids, PrincipalUpdate(kind="principal", principal=principal)
            )
            self._metrics.sessions_changed("refreshed", pushed)

    async def _stored(self, district_id: str, user_id: str) -> Roster | None:
        """The person's roster from the district's copy, as of now (the worker applies each
        event to the copy before its effects); None when the copy cannot say."""
        if self._roster is None:
            return None
        stored = await self._roster.read_user(district_id, user_id)
        if stored is None:
            return None
        return replace(stored.roster, fetched_at=self._clock())

    async def end_users(self, district_id: str, user_ids: Iterable[str]) -> None:
        for user_id in user_ids:
            ended = await self._sessions.delete_user(user_id)
            await self._sessions.forget_in_district(district_id, self._sessions.user_hashes(user_id))
            self._metrics.sessions_changed("ended", ended)

    async def end_district(self, district_id: str) -> None:
        ended = await self._sessions.delete_district(district_id)
        self._metrics.sessions_changed("ended", ended)
        logger.warning(
            "district disconnected; its sessions ended",
            extra={"event": "district_disconnected", "district": district_id, "sessions_ended": ended},
        )

    async def drop_resources(
        self, district_id: str, resource_ids: list[str], *, keep_users: Iterable[str] = ()
    ) -> None:
        """Every live session of the district drops these resources, but those of `keep_users`."""
        kept: set[str] = set()
        for user_id in keep_users:
            kept.update(await self._sessions.user_storage_ids(user_id))
        storage_ids = [s for s in await self._sessions.district_storage_ids(district_id) if s not in kept]
        await self._sessions.push_update(storage_ids, DropResources(kind="drop_resources", ids=resource_ids))

    async def resync(self, district_id: str) -> None:
        """Bring every live session of the district in line with the Data API, without events:
        sessions of users no longer in the district end, the others get a fresh Principal."""
        user_hashes = await self._sessions.district_user_hashes(district_id)
        if not user_hashes:
            return
        users = await self._tokens.call(district_id, lambda token: self._clever.users(token))
        by_hash = {digest: user.id for user in users for digest in self._sessions.user_hashes(user.id)}
        gone = [digest for digest in user_hashes if digest not in by_hash]
        ended = 0
        for digest in gone:
            ended += await self._sessions.delete_user_hash(digest)
        await self._sessions.forget_in_district(district_id, gone)
        self._metrics.sessions_changed("ended", ended)
        present = [by_hash[digest] for digest in user_hashes if digest in by_hash]
        await self.refresh_users(district_id, present, None)
        logger.warning(
            "district resynchronised from the Data API",
            extra={
                "event": "district_resynchronised",
                "district": district_id,
                "users_refreshed": len(present),
                "sessions_ended": ended,
            },
        )


def _object_id(obj: object) -> str | None:
    value = obj.get("id") if isinstance(obj, dict) else getattr(obj, "id", None)
    return value if isinstance(value, str) and value else None


def _section_people(obj: object, previous: Mapping[str, Any] | None) -> list[str]:
    """Everyone a section change concerns: its teachers and students now, and before it."""
    people: list[str] = []
    if isinstance(obj, Section):
        people += [obj.teacher] if obj.teacher else []
        people += [*obj.teachers, *obj.students]
    for key in ("teacher", "teachers", "students"):
        before = (previous or {}).get(key)
        if isinstance(before, str):
            people.append(before)
        elif isinstance(before, list):
            people += [item for item in before if isinstance(item, str)]
    return list(dict.fromkeys(person for person in people if person))
