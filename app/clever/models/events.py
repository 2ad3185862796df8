"""Events API objects: `{"id", "type": "<record>.<action>", "created", "data": {"object", ...}}`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import SkipValidation, model_validator

from app.clever.models.base import CleverModel, Id
from app.clever.models.roster import Course, District, Resource, School, Section, Term
from app.clever.models.users import User

EventObject = User | Section | Resource | School | District | Term | Course | dict[str, Any]

_OBJECT_MODELS: dict[str, type[CleverModel]] = {
    "users": User,
    "sections": Section,
    "resources": Resource,
    "schools": School,
    "districts": District,
    "terms": Term,
    "courses": Course,
}


class EventData(CleverModel):
    # Parsed by Event, which knows the record type; a record type we don't know stays a dict.
    object: Annotated[EventObject, SkipValidation]
    previous_attributes: dict[str, Any] | None = None


class Event(CleverModel):
    id: Id
    type: Id
    created: str | None = None
    data: EventData

    @property
    def record_type(self) -> str:
        return self.type.partition(".")[0]

    @property
    def action(self) -> str:
        return self.type.partition(".")[2]

    @model_validator(mode="before")
    @classmethod
    def _typed_object(cls, raw: Any) -> Any:
        if not isinstance(raw, dict) or not isinstance(raw.get("data"), dict):
            return raw
        data = dict(raw["data"])
        # The definitions put previous_attributes beside `data`; Clever's docs and feed inside it.
        if "previous_attributes" not in data and "previous_attributes" in raw:
            data["previous_attributes"] = raw["previous_attributes"]
        obj = data.get("object")
        if not isinstance(obj, dict):
            raise ValueError("event data.object is not an object")
        model = _OBJECT_MODELS.get(str(raw.get("type", "")).partition(".")[0])
        if model is not None:
            data["object"] = model.model_validate(obj)
        return {**raw, "data": data}


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of events, oldest first, and where to resume.

    `cursor` is the id to pass as `starting_after` next time: the newest event Clever sent here
    (parsed or passed over), or the cursor this page was asked with when it is empty. `read` is
    how many Clever sent, `skipped` how many of them did not parse and are not in `events`.
    """

    events: list[Event]
    cursor: str | None
    has_more: bool
    read: int = 0
    skipped: int = 0
