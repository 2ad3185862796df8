"""Merging a control-API patch into a record, and describing what an update changed."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

Record = dict[str, Any]

_MISSING = object()


def merge_patch(record: Mapping[str, Any], patch: Mapping[str, Any]) -> Record:
    """A new record: `patch` merged in, objects recursively, a null value removing its key.

    As JSON Merge Patch (RFC 7396): `{"roles": {"staff": None}}` drops the staff role and keeps
    the others; lists and other values are replaced whole. `record` is left unchanged.
    """
    merged: Record = copy.deepcopy(dict(record))
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping):
            current = merged.get(key)
            merged[key] = merge_patch(current if isinstance(current, Mapping) else {}, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def previous_attributes(old: Mapping[str, Any], new: Mapping[str, Any], ignore: frozenset[str]) -> Record:
    """The values `old` had where `new` differs: an updated event's `previous_attributes`.

    Objects are compared key by key and only their changed keys are given; a key `old` did not
    have is given as null; lists and other values are given whole. Keys in `ignore` (bookkeeping
    such as `last_modified`) never count as changes.
    """
    changes: Record = {}
    for key in old.keys() | new.keys():
        if key in ignore:
            continue
        before, after = old.get(key, _MISSING), new.get(key, _MISSING)
        if before == after:
            continue
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            nested = previous_attributes(before, after, ignore)
            if nested:
                changes[key] = nested
        else:
            changes[key] = None if before is _MISSING else copy.deepcopy(before)
    return {key: changes[key] for key in sorted(changes)}
