"""People of several roles, every mix Clever allows, logging in as each of their roles: the
Principal holds every role, the login's role is the primary one, and a refresh keeps both."""

from __future__ import annotations

import pytest

from app.clever.models import ROLE_ORDER
from tests.conftest import RunningSandbox
from tests.login.roles import MIX_LOGINS, login_as, mix_id, person_with
from tests.support.browser import Browser
from tests.support.demo import expected_resource_ids, expected_roles

REFRESH = {"X-Requested-With": "t"}


@pytest.mark.parametrize(("mix", "role"), MIX_LOGINS, ids=[mix_id(*login) for login in MIX_LOGINS])
async def test_each_mix_logs_in_as_each_of_its_roles_and_a_refresh_keeps_them(
    mix: frozenset[str], role: str, sandbox: RunningSandbox, backend: str
) -> None:
    store = sandbox.sandbox.store
    person = person_with(store, mix)
    async with Browser(backend) as browser:
        landed = await login_as(browser, person["id"], role)
        assert landed.response.status_code == 302, landed.response.text
        answer = (await browser.session()).json()

        user = answer["user"]
        assert user["id"] == person["id"]
        assert user["roles"] == expected_roles(person) == [name for name in ROLE_ORDER if name in mix]
        assert user["primary_role"] == role
        assert set(answer["roles"]) == mix
        assert set(user["legacy_ids"]) == mix
        assert len(set(user["legacy_ids"].values())) == len(mix)  # one legacy id per role
        assert "unavailable" not in answer["roster"]
        assert {resource["id"] for resource in answer["resources"]} == expected_resource_ids(store, person)

        refreshed = await browser.http.post(f"{backend}/auth/session/refresh", headers=REFRESH)
        assert refreshed.status_code == 200, refreshed.text
        again = (await browser.session()).json()
    assert again["user"]["roles"] == user["roles"]
    assert again["user"]["primary_role"] == role
    assert set(again["roles"]) == mix
