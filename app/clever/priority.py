"""Which class a call on a district token belongs to, for the rate budget (`app.clever.budget`).

Interactive calls (a login, a refresh that falls back to live) are the default; work nobody is
waiting for (a full sync, applying events) runs under `in_background`, so that the callers of
the client need not pass anything: the class travels with the task, as a context variable does,
into every task it starts.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class Priority(enum.Enum):
    INTERACTIVE = "interactive"
    BACKGROUND = "background"


_current: ContextVar[Priority] = ContextVar("clever_call_priority", default=Priority.INTERACTIVE)


def current_priority() -> Priority:
    return _current.get()


def in_background(func: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Every Clever call `func` makes, and the tasks it starts make, is a background call."""

    @functools.wraps(func)
    async def run(*args: P.args, **kwargs: P.kwargs) -> T:
        token = _current.set(Priority.BACKGROUND)
        try:
            return await func(*args, **kwargs)
        finally:
            _current.reset(token)

    return run
