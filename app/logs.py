"""How the backend logs: one JSON object per line, each with the request it belongs to.

Every record carries `time` (UTC, ISO 8601), `level`, `logger`, `message`, `request_id` (from
the request-id middleware, null outside a request), `event` (a stable name such as
`login_succeeded`, when the call site gave one) and the other `extra` fields of the call. Call
sites pass codes, counts and class names, never tokens, codes, names or e-mail addresses; the
uvicorn access log (request lines carry login codes and client addresses) stays off unless an
operator turns it on.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _BaseJsonFormatter
from uvicorn.logging import DefaultFormatter

LogFormat = Literal["json", "text"]
LOG_FORMATS: tuple[LogFormat, ...] = ("json", "text")

# The id of the request being answered, set by `app.web.middleware.request_id.RequestId`.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)

_FIRST = ("time", "level", "logger", "message", "request_id", "event")
# uvicorn adds a coloured copy of its messages; it is not a field anyone wants twice.
_HIDDEN = (*RESERVED_ATTRS, "color_message", "request_id")


class JsonFormatter(_BaseJsonFormatter):
    """A JSON line per record, fixed fields first. Accepts (and ignores) uvicorn's formatter
    options, so it can stand in for uvicorn's own in a logging config."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            reserved_attrs=_HIDDEN,
            json_ensure_ascii=False,
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        fields: dict[str, Any] = {}
        super().add_fields(fields, record, message_dict)
        log_data["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        log_data["level"] = fields.pop("level", record.levelname)
        log_data["logger"] = fields.pop("logger", record.name)
        log_data["message"] = fields.pop("message", record.getMessage())
        log_data["request_id"] = REQUEST_ID.get()
        log_data["event"] = fields.pop("event", None)
        log_data.update((key, value) for key, value in fields.items() if key not in _FIRST)


def _fields_text(record: logging.LogRecord, skip: tuple[str, ...] = ()) -> str:
    """A record's `extra` fields as `name=value` (values as JSON), `event` and `code` first; ""
    when it has none. One rendering for every text line (TextFormatter, ConsoleFormatter)."""
    fields = {key: value for key, value in vars(record).items() if key not in _HIDDEN and key not in skip}
    first = [key for key in ("event", "code") if key in fields]
    ordered = first + [key for key in fields if key not in first]
    return " ".join(f"{key}={json.dumps(fields[key], default=str, ensure_ascii=False)}" for key in ordered)


class ConsoleFormatter(DefaultFormatter):
    """uvicorn's console line with the call's `extra` fields after it:
    `INFO:     login request refused  event="login_rejected" code="invalid_return_to"`. For the
    console of `clever-login dev`, where a line without its code says little."""

    def format(self, record: logging.LogRecord) -> str:
        extras = _fields_text(record, skip=("levelprefix", "message"))
        line = super().format(record)
        return f"{line}  {extras}" if extras else line


def with_console_fields(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of a uvicorn logging config whose console lines end in their fields (ConsoleFormatter)."""
    config = copy.deepcopy(config)
    default = config.get("formatters", {}).get("default")
    if default is not None:
        default["()"] = f"{__name__}.ConsoleFormatter"
    return config


class TextFormatter(logging.Formatter):
    """One line for a console: level, logger and message, then the call's `extra` fields as
    `name=value` (values as JSON), so a text log says what a JSON one does."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = _fields_text(record)
        if not extras:
            return line
        head, newline, rest = line.partition("\n")
        return f"{head} {extras}{newline}{rest}"


class EventLimiter:
    """Rate-limits the log lines of one kind of event, so that a flood of refused requests is not a
    flood of log lines (README, "Operations"). Each kind (an event name and its code) may write
    `burst` lines at once, then `per_second`; the lines left out are counted, and the next line
    that is written says how many (`suppressed`). Callers count every event in a metric as well.
    The kinds are the stable event names and codes: a bounded set.
    """

    def __init__(
        self, *, burst: int = 20, per_second: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._burst = burst
        self._rate = per_second
        self._clock = clock
        self._kinds: dict[tuple[str, str], list[float]] = {}  # [tokens, at, left out since]

    def admit(self, event: str, code: str = "") -> int | None:
        """None: leave this line out. Otherwise write it, saying how many were left out before it."""
        now = self._clock()
        kind = self._kinds.setdefault((event, code), [float(self._burst), now, 0])
        kind[0] = min(float(self._burst), kind[0] + (now - kind[1]) * self._rate)
        kind[1] = now
        if kind[0] < 1:
            kind[2] += 1
            return None
        kind[0] -= 1
        left_out, kind[2] = int(kind[2]), 0
        return left_out

    def log(self, logger: logging.Logger, level: int, message: str, extra: Mapping[str, object]) -> None:
        """`logger.log` within the rate of `extra`'s event (and code), saying how many lines of
        that kind were left out before it."""
        left_out = self.admit(str(extra["event"]), str(extra.get("code") or ""))
        if left_out is None:
            return
        logger.log(level, message, extra={**extra, "suppressed": left_out} if left_out else dict(extra))


class StripQuery(logging.Filter):
    """Cuts the query string off uvicorn's access-log request lines.

    A callback's query holds the login code and state, and a `return_to` may hold anything; the
    path alone says which route was asked for. uvicorn logs `(client, method, path, version,
    status)` as the record's arguments.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], args[2].partition("?")[0], args[3], args[4])
        return True


def with_format(config: dict[str, Any], log_format: LogFormat) -> dict[str, Any]:
    """A copy of a `logging.config.dictConfig` mapping (uvicorn's, with our loggers) whose
    formatters write `log_format`: `json` for production, `text` (uvicorn's own) for a console.
    The access log, when an operator turns it on, never carries a query string."""
    config = copy.deepcopy(config)
    if log_format == "json":
        for name in config.get("formatters", {}):
            config["formatters"][name] = {"()": f"{__name__}.JsonFormatter"}
    access = config.get("handlers", {}).get("access")
    if access is not None:
        config.setdefault("filters", {})["strip_query"] = {"()": f"{__name__}.StripQuery"}
        access["filters"] = [*access.get("filters", []), "strip_query"]
    return config


def configure(log_format: LogFormat, level: str = "info") -> None:
    """Log the `app` loggers to stderr in `log_format`, for processes uvicorn does not set up."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    logger = logging.getLogger("app")
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
