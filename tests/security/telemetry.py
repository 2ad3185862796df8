"""Catch secrets and personal data in log records, across a whole test run.

`LogCapture` keeps every log record the service's code creates while the tests run: records of
our `app` loggers wherever they run, and records of any library that run off the test's main
thread (the backends under test serve from their own threads). It hooks record creation rather
than a handler, so loggers that do not propagate (uvicorn's) are seen too. Records of the test
harness itself (its HTTP clients on the main thread, schemathesis' `requests`, the Clever
sandbox) are not telemetry of the service and are left out.

`SecretBook` collects what must never appear in them: values a test run produced (tickets,
tokens, codes, state, e-mail addresses and names of the sandbox's people, configured secrets),
and patterns that recognise such values even when no test wrote them down.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
# Loggers of the test harness, never of the service.
_HARNESS = ("clever_sandbox", "tests", "urllib3", "requests", "schemathesis", "hypothesis", "faker")

PATTERNS: dict[str, re.Pattern[str]] = {
    "session or pending-login ticket": re.compile(
        r"v1\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}"
    ),
    "signed token (JWT, e.g. an id_token)": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\."),
    "e-mail address": re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
    "district-app token (40 hex digits)": re.compile(r"(?<![0-9a-fA-F])[0-9a-f]{40}(?![0-9a-fA-F])"),
}
# A long run of base64url with mixed character classes: a state, nonce, PKCE verifier,
# authorization code, access token or raw session id. Hex digests (keyed hashes) do not match.
_OPAQUE = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{32,}(?![A-Za-z0-9_-])")
OPAQUE_KIND = "opaque credential (state, code, token, nonce or raw id)"


def _looks_random(run: str) -> bool:
    if re.fullmatch(r"[0-9a-f]+", run) or re.fullmatch(r"[0-9A-F]+", run):
        return False
    classes = sum(bool(re.search(pattern, run)) for pattern in ("[A-Z]", "[a-z]", "[0-9]"))
    return classes >= 2 and not re.fullmatch(r"[a-z_]+|[A-Z_]+", run)


def mask(value: str) -> str:
    """Enough of a value to find it again, never enough to use it."""
    return f"{value[:4]}… ({len(value)} characters)" if len(value) > 8 else "…"


@dataclass(frozen=True, slots=True)
class Leak:
    kind: str
    logger: str
    value: str = field(repr=False)  # never printed whole, not even by an assertion's diff
    excerpt: str  # the log text around it, the value itself masked

    def describe(self) -> str:
        return f"{self.kind} in a record of logger {self.logger!r}: {mask(self.value)}; text: {self.excerpt}"


@dataclass
class SecretBook:
    """Known secret or personal values, by kind, plus whole words (names) matched case-sensitively."""

    values: dict[str, set[str]] = field(default_factory=dict)
    words: dict[str, set[str]] = field(default_factory=dict)

    def add(self, kind: str, *values: str | None) -> None:
        self.values.setdefault(kind, set()).update(v for v in values if v and len(v) >= 6)

    def add_words(self, kind: str, *words: str | None) -> None:
        self.words.setdefault(kind, set()).update(w for w in words if w and len(w) >= 3)

    def add_people(self, users: Iterable[Mapping[str, Any]]) -> None:
        """The names and e-mail addresses of the sandbox's people (students included)."""
        for user in users:
            name = user.get("name") or {}
            first, last = name.get("first"), name.get("last")
            self.add("e-mail address of a person", user.get("email"))
            self.add("full name of a person", f"{first} {last}" if first and last else None)
            self.add_words("name of a person", first, last, name.get("middle"))
            student = (user.get("roles") or {}).get("student") or {}
            self.add_words("name of a person", student.get("preferred_name", {}).get("first")
                           if isinstance(student.get("preferred_name"), dict) else None)  # fmt: skip

    def find(self, text: str) -> list[tuple[str, str]]:
        """(kind, value) for every secret or personal value in `text`."""
        found: list[tuple[str, str]] = []
        for kind, values in self.values.items():
            found += [(kind, value) for value in values if value in text]
        for kind, words in self.words.items():
            found += [(kind, word) for word in words if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text)]
        for kind, pattern in PATTERNS.items():
            found += [(kind, match.group()) for match in pattern.finditer(text)]
        runs = (run.group() for run in _OPAQUE.finditer(text))
        # A run inside a value already found (the parts of a ticket) is the same leak.
        found += [(OPAQUE_KIND, r) for r in runs if _looks_random(r) and not any(r in v for _, v in found)]
        return found


def record_text(record: logging.LogRecord) -> str:
    """Everything a formatter could write of a record: message, extra fields, exception, stack."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed call site: its raw parts are still telemetry
        message = f"{record.msg!r} {record.args!r}"
    extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}
    parts = [message]
    if extras:
        parts.append(repr(extras))
    if record.exc_info and record.exc_info[1] is not None:
        parts.append("".join(traceback.format_exception(record.exc_info[1])))
    elif record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(parts)


class LogCapture:
    """Installs itself as the log record factory; `records` holds what the service logged."""

    def __init__(self) -> None:
        self.records: list[logging.LogRecord] = []
        self._previous: Callable[..., logging.LogRecord] | None = None
        self._main = threading.main_thread().ident
        self._lock = threading.Lock()

    def is_service(self, record: logging.LogRecord) -> bool:
        name = record.name
        if name.startswith(_HARNESS) or any(name.startswith(h + ".") for h in _HARNESS):
            return False
        return name == "app" or name.startswith("app.") or record.thread != self._main

    def install(self) -> None:
        previous = self._previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if self.is_service(record):
                with self._lock:
                    self.records.append(record)
            return record

        logging.setLogRecordFactory(factory)

    def uninstall(self) -> None:
        if self._previous is not None:
            logging.setLogRecordFactory(self._previous)
            self._previous = None

    def leaks(self, book: SecretBook) -> list[Leak]:
        with self._lock:
            records = list(self.records)
        leaks: dict[tuple[str, str, str], Leak] = {}
        for record in records:
            text = record_text(record)
            found = book.find(text)
            excerpt = text
            for _, value in sorted(found, key=lambda item: -len(item[1])):
                excerpt = excerpt.replace(value, mask(value))
            for kind, value in found:
                leaks.setdefault((kind, record.name, value), Leak(kind, record.name, value, excerpt[:300]))
        return list(leaks.values())


def report(leaks: list[Leak], limit: int = 30) -> str:
    kinds = sorted({leak.kind for leak in leaks})
    lines = [f"{len(leaks)} secret or personal value(s) reached the logs; kinds: {', '.join(kinds)}"]
    lines += [f"  - {leak.describe()}" for leak in leaks[:limit]]
    if len(leaks) > limit:
        lines.append(f"  ... and {len(leaks) - limit} more")
    return "\n".join(lines)
