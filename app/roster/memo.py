"""What a process remembers per district for a short while (a district-app token, a district's
directory), so that every login of a district does not read it again from Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class Memo(Generic[V]):
    """Values by key, each for `seconds` after it was put (none at all when `seconds` <= 0), at
    most `entries` of them: past that, the expired ones go, then the oldest."""

    def __init__(self, *, seconds: float, entries: int, clock: Callable[[], float]) -> None:
        self._seconds = seconds
        self._entries = entries
        self._clock = clock
        self._values: dict[str, tuple[V, float]] = {}  # key -> (value, remembered until)

    def get(self, key: str) -> V | None:
        remembered = self._values.get(key)
        if remembered is None or remembered[1] <= self._clock():
            return None
        return remembered[0]

    def put(self, key: str, value: V) -> None:
        if self._seconds <= 0:
            return
        now = self._clock()
        self._values.pop(key, None)
        if len(self._values) >= self._entries:
            self._values = {k: kept for k, kept in self._values.items() if kept[1] > now}
            while len(self._values) >= self._entries:
                del self._values[next(iter(self._values))]
        self._values[key] = (value, now + self._seconds)

    def forget(self, key: str) -> None:
        self._values.pop(key, None)
