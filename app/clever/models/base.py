"""What every Clever model shares: tolerant parsing, enum-like strings, the list envelope."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

logger = logging.getLogger("app.clever")

T = TypeVar("T")


class CleverModel(BaseModel):
    """Frozen, ignores fields Clever adds, and never echoes payload values in validation errors."""

    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)


# Ids are what everything else hangs on: required and non-empty wherever they are used.
Id = Annotated[str, StringConstraints(min_length=1)]


def _none_as_empty(value: Any) -> Any:
    return [] if value is None else value


# Clever's lists are optional and sometimes null; both read as empty.
NullAsEmpty = BeforeValidator(_none_as_empty)
StrList = Annotated[list[str], NullAsEmpty]

_reported: set[tuple[str, str]] = set()
_REPORT_LIMIT = 512  # bounds memory if a feed is full of novel values


def _report_unknown(field: str, value: str) -> None:
    key = (field, value)
    if key in _reported or len(_reported) >= _REPORT_LIMIT:
        return
    _reported.add(key)
    # The value is vocabulary (a grade, a language), logged without whose record it came from.
    logger.warning(
        "Clever sent an unknown value; kept as sent",
        extra={"event": "clever_unknown_value", "field": field, "value": value[:40]},
    )


def known(field: str, values: frozenset[str], *, fold: bool = False) -> AfterValidator:
    """A validator that keeps any string, logging once those not in `values`.

    `fold` compares case-insensitively (`values` must then be lower case).
    """

    def check(value: str | None) -> str | None:
        if value is not None and (value.lower() if fold else value) not in values:
            _report_unknown(field, value)
        return value

    return AfterValidator(check)


def known_items(field: str, values: frozenset[str]) -> AfterValidator:
    """As `known`, for a list of strings."""

    def check(items: list[str]) -> list[str]:
        for value in items:
            if value not in values:
                _report_unknown(field, value)
        return items

    return AfterValidator(check)


class Link(CleverModel):
    rel: str
    uri: str


Links = Annotated[list[Link], NullAsEmpty]


def link(links: list[Link], rel: str) -> str | None:
    return next((item.uri for item in links if item.rel == rel), None)


class Item(CleverModel, Generic[T]):
    """One element of a list answer: Clever wraps each object in its own `data`."""

    data: T


class Page(CleverModel, Generic[T]):
    """A list answer: `{"data": [{"data": {...}}, ...], "links": [...]}`."""

    data: Annotated[list[Item[T]], NullAsEmpty]
    links: Links = Field(default_factory=list)

    @property
    def items(self) -> list[T]:
        return [item.data for item in self.data]

    @property
    def next_uri(self) -> str | None:
        return link(self.links, "next")


class Envelope(CleverModel, Generic[T]):
    """A single-object answer: `{"data": {...}, "links": [...]}`."""

    data: T
    links: Links = Field(default_factory=list)
