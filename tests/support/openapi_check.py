"""Check every answer the backend gives in a test against its own `/openapi.json`.

`OpenAPIConformance` wraps the backend's ASGI app and only observes: each answer's status must be
documented for its path and method, and a JSON body must match the documented schema. Tests that
run a backend through `tests.support.backend.running_backend` fail when an answer strays.
"""

from __future__ import annotations

import json
import re
from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.web.openapi import openapi_document

MAX_CAPTURE = 1 << 20


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")


class OpenAPIConformance:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.document: dict[str, Any] = json.loads(openapi_document())
        self.paths = [(_pattern(template), item) for template, item in self.document["paths"].items()]
        self.violations: list[str] = []
        self.checked = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("OPTIONS", "HEAD"):
            await self.app(scope, receive, send)
            return
        answer: dict[str, Any] = {"status": 0, "content_type": "", "body": b""}

        async def observe(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                headers = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
                answer["content_type"] = headers.get("content-type", "")
            elif message["type"] == "http.response.body" and len(answer["body"]) < MAX_CAPTURE:
                answer["body"] += message.get("body", b"")
            await send(message)

        await self.app(scope, receive, observe)
        self._check(scope["method"].lower(), scope["path"], answer)

    def _check(self, method: str, path: str, answer: dict[str, Any]) -> None:
        item = next((item for pattern, item in self.paths if pattern.match(path)), None)
        operation = item.get(method) if item else None
        if operation is None:
            return  # an unknown path (404) or method (405): nothing is promised there
        self.checked += 1
        where = f"{method.upper()} {path} -> {answer['status']}"
        documented = operation["responses"].get(str(answer["status"]))
        if documented is None:
            self.violations.append(f"{where}: status not documented")
            return
        if not answer["content_type"].startswith("application/json"):
            return
        schema = documented.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            self.violations.append(f"{where}: JSON answer with no documented schema")
            return
        validator = Draft202012Validator({**schema, "components": self.document["components"]})
        for error in validator.iter_errors(json.loads(answer["body"])):
            location = "$" + "".join(f"[{part!r}]" for part in error.absolute_path)
            self.violations.append(f"{where}: {location}: {error.message}")
