"""Where a login's roster comes from: the district's copy (app.roster.store) when it is fresh
and holds the person, else Clever's Data API (app.roster.fetch), as before the copy existed.

A roster from the copy costs one Redis round trip (the person's records and the district's
events cursor, in one script) and no call on the district-app token, whose 1200 calls a minute
every live login of the district shares. Fresh is the rule of app.roster.store (`is_fresh`):
synced within a day, the event stream read to its end within `max_events_lag` seconds
(ROSTER_MAX_EVENTS_LAG), written under the reader's STUDENT_FIELDS. Why a roster was fetched
live instead is one of `LIVE_REASONS`:

- `no_copy`: the district has no copy (never synced, purged, expired);
- `stale`: it has one, and it is not fresh;
- `not_in_copy`: it is fresh, and the person is not in it (created since the last poll);
- `unreadable`: it does not parse or unseal (sealed under a secret no longer held, corrupted);
- `library`: a Clever Library login, which has no district and so no copy: always read live
  with the person's own token (`fetch_library_roster`).

A Redis error propagates, as everywhere on the login path: the session could not be written
either.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Literal, get_args

from app.clever import CleverClient
from app.roster.district_tokens import DistrictTokens
from app.roster.fetch import Roster, fetch_library_roster, fetch_roster
from app.roster.store import RosterStore, StoreMiss, is_fresh

LiveReason = Literal["no_copy", "stale", "not_in_copy", "unreadable", "library"]
LIVE_REASONS: tuple[LiveReason, ...] = get_args(LiveReason)


async def from_store(
    store: RosterStore,
    *,
    user_id: str,
    district_id: str,
    student_fields: frozenset[str],
    max_events_lag: float,
    now: float,
) -> Roster | LiveReason:
    """The person's roster from a fresh copy, or why it cannot be had from the copy."""
    found = await store.read(district_id, user_id)
    info = found.info
    if info is not None and not is_fresh(
        info,
        events_seen_until=found.events_seen_until,
        now=now,
        max_events_lag=max_events_lag,
        student_fields=student_fields,
    ):
        return "stale"
    if isinstance(found, StoreMiss):
        return found.reason
    # As of when the copy is known to be Clever's roster: its sync, or the last read of the
    # stream to its end if later (every event before it applied). Roster versions order a
    # session's updates (app.roster.principal.apply_roster_update): one fetched live before
    # that moment is older than this roster.
    seen_until = found.events_seen_until or 0.0
    return replace(found.roster, fetched_at=max(found.info.synced_at, min(seen_until, now)))


async def person_roster(
    clever: CleverClient,
    tokens: DistrictTokens,
    store: RosterStore,
    *,
    user_id: str,
    district_id: str,
    login_user_type: str | None,
    student_fields: frozenset[str],
    max_events_lag: float,
    decided: Callable[[LiveReason | None], None] | None = None,
    clock: Callable[[], float] = time.time,
    library_token: str | None = None,
) -> Roster:
    """The person's roster from a fresh copy, else fetched live (`fetch_roster`, whose errors
    propagate). `decided` learns which, before any live fetch: None for the copy, else why not.
    With `library_token` (a Library login's own token) it is always read live with that token."""
    if library_token is not None:
        if decided is not None:
            decided("library")
        return await fetch_library_roster(clever, library_token, user_id=user_id)
    found = await from_store(
        store,
        user_id=user_id,
        district_id=district_id,
        student_fields=student_fields,
        max_events_lag=max_events_lag,
        now=clock(),
    )
    if decided is not None:
        decided(None if isinstance(found, Roster) else found)
    if isinstance(found, Roster):
        return found
    return await fetch_roster(
        clever, tokens, user_id=user_id, district_id=district_id, login_user_type=login_user_type
    )
