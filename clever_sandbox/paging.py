"""Clever's paging: by id, with `limit`, `starting_after` and `ending_before`, and `links`.

Results are sorted by id (creation order). A page that is not empty always gets a `next` link
(`starting_after=<its last id>`) and a `prev` link (`ending_before=<its first id>`), even
when nothing lies beyond it, as Clever does: a client stops on an empty page.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

Record = Mapping[str, Any]

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
_CURSORS = frozenset({"starting_after", "ending_before"})
LAST = "last"


class PagingError(Exception):
    """A paging parameter Clever would refuse; `status` is 400, or 413 for a limit too high."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    starting_after: str | None = None
    ending_before: str | None = None


def parse_page_request(params: Mapping[str, str]) -> PageRequest:
    raw = params.get("limit")
    limit = DEFAULT_LIMIT
    if raw is not None:
        text = raw.strip()
        if not (text.isascii() and text.isdigit()):
            raise PagingError(400, f"limit must be a positive integer, got {raw!r}")
        limit = int(text)
        if limit < 1:
            raise PagingError(400, "limit must be a positive integer")
        if limit > MAX_LIMIT:
            raise PagingError(413, f"limit must be no greater than {MAX_LIMIT}")
    return PageRequest(
        limit=limit,
        starting_after=params.get("starting_after") or None,
        ending_before=params.get("ending_before") or None,
    )


def _record_id(record: Record) -> str:
    return str(record["id"])


def select_page(
    records: Sequence[Record], page: PageRequest, keep: Callable[[Record], bool] | None = None
) -> list[Record]:
    """The page of `records` (sorted by id) that `page` asks for, keeping only what `keep` accepts.

    With `ending_before`, the page is the last `limit` records before that id, still ascending;
    `ending_before=last` ends at the newest record (how a client finds the newest event).
    """
    low = bisect_right(records, page.starting_after, key=_record_id) if page.starting_after else 0
    high = len(records)
    if page.ending_before and page.ending_before != LAST:
        high = bisect_left(records, page.ending_before, key=_record_id)
    chosen: list[Record] = []
    indexes: Iterable[int] = range(high - 1, low - 1, -1) if page.ending_before else range(low, high)
    for index in indexes:
        record = records[index]
        if keep is None or keep(record):
            chosen.append(record)
            if len(chosen) == page.limit:
                break
    if page.ending_before:
        chosen.reverse()
    return chosen


def _uri(path: str, query: Sequence[tuple[str, str]]) -> str:
    return f"{path}?{urlencode(query)}" if query else path


def page_links(path: str, query: Sequence[tuple[str, str]], page: Sequence[Record]) -> list[dict[str, str]]:
    """`self`, and for a non-empty page `next` and `prev`, keeping the request's other parameters."""
    links = [{"rel": "self", "uri": _uri(path, query)}]
    if page:
        rest = [(key, value) for key, value in query if key not in _CURSORS]
        links.append({"rel": "next", "uri": _uri(path, [*rest, ("starting_after", _record_id(page[-1]))])})
        links.append({"rel": "prev", "uri": _uri(path, [*rest, ("ending_before", _record_id(page[0]))])})
    return links
