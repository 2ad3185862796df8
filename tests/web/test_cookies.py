from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import Response

from app.web.cookies import Cookies


def _set_cookies(response: Response) -> list[str]:
    return [value.decode() for name, value in response.raw_headers if name == b"set-cookie"]


@pytest.mark.parametrize(
    ("secure", "session", "login"),
    [(True, "__Host-clever_session", "__Host-clever_login"), (False, "clever_session", "clever_login")],
)
def test_cookie_names_and_attributes(secure: bool, session: str, login: str) -> None:
    cookies = Cookies(secure=secure)
    response = Response()
    cookies.set_session(response, "v1.a.b.c")
    cookies.set_login(response, "v1.d.e.f")
    cookies.clear_session(response)
    set_session, set_login, cleared = _set_cookies(response)
    assert set_session.startswith(f"{session}=v1.a.b.c;")
    assert set_login.startswith(f"{login}=v1.d.e.f;")
    for header in (set_session, set_login, cleared):
        attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
        assert {"httponly", "path", "samesite"} <= attributes
        assert "domain" not in attributes
        assert ("secure" in attributes) is secure
        assert "samesite=lax" in header.lower()
    assert "max-age" not in set_session.lower()
    assert "max-age" not in set_login.lower()  # both end with the browser
    assert "expires" not in set_login.lower()
    assert "max-age=0" in cleared.lower()


def _request(headers: list[tuple[bytes, bytes]]) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "query_string": b""})


def test_the_session_token_comes_from_bearer_or_cookie() -> None:
    cookies = Cookies(secure=True)
    assert cookies.session_token(_request([(b"authorization", b"Bearer v1.x")])) == "v1.x"
    assert cookies.session_token(_request([(b"cookie", b"__Host-clever_session=v1.y")])) == "v1.y"
    assert cookies.session_token(_request([(b"cookie", b"clever_session=v1.y")])) is None
    assert cookies.session_token(_request([(b"authorization", b"Basic abc")])) is None
    assert cookies.session_token(_request([])) is None


def test_every_session_token_names_the_bearer_and_the_cookie_once_each() -> None:
    cookies = Cookies(secure=True)
    both = [(b"authorization", b"Bearer v1.x"), (b"cookie", b"__Host-clever_session=v1.y")]
    assert cookies.every_session_token(_request(both)) == ["v1.x", "v1.y"]
    same = [(b"authorization", b"Bearer v1.y"), (b"cookie", b"__Host-clever_session=v1.y")]
    assert cookies.every_session_token(_request(same)) == ["v1.y"]
    assert cookies.every_session_token(_request([(b"cookie", b"__Host-clever_session=v1.y")])) == ["v1.y"]
    assert cookies.every_session_token(_request([])) == []
