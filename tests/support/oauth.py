"""Real OAuth round trips against a running sandbox, for tests that need a code or a user token.

The code comes the way a browser gets one: `/oauth/authorize` with `login_hint=<user id>`
answers 302 to the redirect URI with `code` (and our `state`).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from clever_sandbox.config import SandboxConfig


def authorize_params(
    config: SandboxConfig, user_id: str | None, *, redirect_uri: str | None = None, state: str = "x"
) -> dict[str, str]:
    """The query of `/oauth/authorize` for our app; `user_id` becomes the `login_hint`."""
    params = {
        "response_type": "code",
        "client_id": config.client_id,
        "redirect_uri": redirect_uri or config.redirect_uris[0],
        "state": state,
    }
    if user_id is not None:
        params["login_hint"] = user_id
    return params


async def authorization_code(
    base_url: str, config: SandboxConfig, user_id: str, *, redirect_uri: str | None = None, state: str = "x"
) -> str:
    """A fresh, unredeemed code for `user_id`, issued to `redirect_uri` (default: the first registered)."""
    redirect_uri = redirect_uri or config.redirect_uris[0]
    params = authorize_params(config, user_id, redirect_uri=redirect_uri, state=state)
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get("/oauth/authorize", params=params)
    location = str(response.headers.get("location", ""))
    if response.status_code != 302 or not location.startswith(redirect_uri):
        raise AssertionError(f"authorize answered {response.status_code}, not a redirect to the callback")
    query = parse_qs(urlsplit(location).query)
    if query.get("state") != [state] or not query.get("code"):
        raise AssertionError("the callback redirect lacks the code or our state")
    return query["code"][0]


async def redeem(base_url: str, config: SandboxConfig, code: str) -> httpx.Response:
    """POST the code to /oauth/tokens as our app would (HTTP Basic, the first redirect URI)."""
    body = {"code": code, "grant_type": "authorization_code", "redirect_uri": config.redirect_uris[0]}
    async with httpx.AsyncClient(base_url=base_url) as http:
        return await http.post("/oauth/tokens", json=body, auth=(config.client_id, config.client_secret))


async def user_token(base_url: str, config: SandboxConfig, user_id: str) -> str:
    """An SSO access token for `user_id`: a code from authorize, redeemed at /oauth/tokens."""
    code = await authorization_code(base_url, config, user_id, redirect_uri=config.redirect_uris[0])
    response = await redeem(base_url, config, code)
    response.raise_for_status()
    token = response.json()["access_token"]
    if not isinstance(token, str):
        raise AssertionError("the token answer has no access_token")
    return token
