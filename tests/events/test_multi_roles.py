"""A person of several roles who loses one: the events worker keeps their session, with the
roles left and the login's role still primary while they hold it (README, "Multi-role users")."""

from __future__ import annotations

import pytest

from app.events.metrics import EventMetrics
from tests.events.conftest import Person, RigFactory, running, until
from tests.login.roles import MIXES, login_as, person_with
from tests.support.browser import Browser

# (the mix, the login's role, the role taken away)
LOSSES = [
    (frozenset({"district_admin", "teacher"}), "district_admin", "teacher"),
    (frozenset({"district_admin", "teacher"}), "teacher", "district_admin"),
    (frozenset({"district_admin", "staff"}), "staff", "district_admin"),
    (frozenset({"district_admin", "staff", "teacher"}), "staff", "teacher"),
    (frozenset({"teacher", "staff"}), "teacher", "staff"),
]
assert {mix for mix, _, _ in LOSSES} == set(MIXES)


@pytest.mark.parametrize(
    ("mix", "role", "lost"), LOSSES, ids=[f"{'+'.join(sorted(m))}-as-{r}-loses-{x}" for m, r, x in LOSSES]
)
async def test_losing_one_role_keeps_the_session_with_the_others(
    mix: frozenset[str], role: str, lost: str, make_rig: RigFactory
) -> None:
    async with make_rig() as rig:
        person = person_with(rig.store, mix)
        browser = Browser(rig.backend)
        landed = await login_as(browser, person["id"], role)
        assert landed.response.status_code == 302, landed.response.text
        signed_in = Person(person["id"], browser)
        rig.people.append(signed_in)
        before = await signed_in.principal()
        assert before["user"]["primary_role"] == role
        kept = sorted(mix - {lost}, key=before["user"]["roles"].index)

        async with running(rig.worker(EventMetrics())):

            async def started() -> bool:
                return await rig.cursor(person["district"]) is not None

            await until(started, what="the first cursor")
            await rig.control("PATCH", f"/sandbox/users/{person['id']}", {"roles": {lost: None}})

            async def role_gone() -> bool:
                return bool((await signed_in.principal())["user"]["roles"] == kept)

            await until(role_gone, what=f"the {lost} role to go")

        after = await signed_in.principal()
        assert set(after["roles"]) == set(kept)
        assert set(after["user"]["legacy_ids"]) == set(kept)
        assert after["user"]["primary_role"] == (role if role in kept else kept[0])
