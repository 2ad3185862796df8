"""The events cursor's key and value, the one definition of both: the events worker writes the
cursor (app.events.cursor), and a login reads it beside the district's roster copy, in the same
script, to tell whether the copy is fresh (app.roster.store). It lives here because app.roster
may not import app.events (docs/architecture.md).

Key: `{prefix}ev:{<district id>}`: the district id is the hash tag, as in every key of the
district's roster copy, so cursor and copy share one Cluster slot.

Value: JSON, `after`, the id of the last event applied (null when the stream was empty on a
first start), and `seen_until` (Unix seconds): every event created before it has been applied.
That is the time the stream was last read to its end, or, while catching up, the creation time
of the last event applied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cursor:
    after: str | None
    seen_until: float


def cursor_key(prefix: str, district_id: str) -> str:
    return f"{prefix}ev:{{{district_id}}}"


def dump_cursor(cursor: Cursor) -> str:
    return json.dumps({"after": cursor.after, "seen_until": cursor.seen_until})


def parse_cursor(raw: bytes | str) -> Cursor | None:
    """The cursor `raw` holds, or None when it is not one."""
    try:
        value = json.loads(raw)
        after = value["after"]
        return Cursor(after=after if isinstance(after, str) else None, seen_until=float(value["seen_until"]))
    except (ValueError, KeyError, TypeError):
        return None


def newer(event_id: str, than: str | None) -> bool:
    """Whether `event_id` comes after `than` in the stream (None: before every event). Clever
    pages events by id, and its ids (like the sandbox's) are hex of one width, so the stream's
    order is the ids' order; app.roster.store's apply script compares them the same way."""
    if than is None:
        return True
    return len(event_id) > len(than) or (len(event_id) == len(than) and event_id > than)
