"""Raw ASGI header lists, read and edited with names compared case-insensitively.

ASGI asks for lower-case names but does not guarantee them, and a layer that missed a
`Cache-Control` because it was spelt differently would add a second, conflicting one.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

RawHeaders = list[tuple[bytes, bytes]]


def values(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    """Every value of header `name` (given in lower case), in order."""
    return [value for key, value in headers if key.lower() == name]


def response_headers(message: MutableMapping[str, Any]) -> RawHeaders:
    """The `http.response.start` message's headers as a list this module may edit in place."""
    headers: RawHeaders = list(message.get("headers", ()))
    message["headers"] = headers
    return headers


def replace(headers: RawHeaders, name: bytes, value: bytes) -> None:
    """Set `name` to exactly one value, dropping whatever the app had set."""
    headers[:] = [(key, val) for key, val in headers if key.lower() != name]
    headers.append((name, value))


def add_vary(headers: RawHeaders, token: bytes) -> None:
    """Make sure `Vary` lists `token`, keeping the tokens the app listed."""
    listed = {item.strip().lower() for value in values(headers, b"vary") for item in value.split(b",")}
    if b"*" in listed or token.lower() in listed:
        return
    headers.append((b"vary", token))
