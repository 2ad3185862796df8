"""ALLOWED_ROLES: a login needs one of them, and a session ends when its user holds none any more."""

from __future__ import annotations

from app.events.metrics import EventMetrics
from tests.events.conftest import RigFactory, running, until
from tests.support.browser import Browser
from tests.support.demo import demo_user

ACCEPTED = frozenset({"teacher", "student"})


async def test_a_user_who_loses_every_accepted_role_loses_the_session(make_rig: RigFactory) -> None:
    async with make_rig(ALLOWED_ROLES="teacher,student") as rig:
        staff_only = demo_user(rig.store, "staff")
        async with Browser(rig.backend) as browser:
            refused = await browser.login(staff_only["id"])
        assert refused.response.status_code == 403
        assert "role_not_allowed" in refused.response.text

        both = demo_user(rig.store, "teacher_staff")
        teacher = demo_user(rig.store, "teacher")
        p_both, p_teacher = await rig.log_in(both["id"]), await rig.log_in(teacher["id"])
        assert (await p_both.principal())["user"]["roles"] == ["staff", "teacher"]
        metrics = EventMetrics()
        async with running(rig.worker(metrics, accepted_roles=ACCEPTED)):

            async def started() -> bool:
                return await rig.cursor(both["district"]) is not None

            await until(started, what="the first cursor")
            # Still a teacher: the session follows, without the staff role.
            await rig.control("PATCH", f"/sandbox/users/{both['id']}", {"roles": {"staff": None}})

            async def staff_gone() -> bool:
                return bool((await p_both.principal())["user"]["roles"] == ["teacher"])

            await until(staff_gone, what="the staff role to go")
            # Staff again but no longer a teacher: no role this app accepts, so the session ends.
            staff_role = staff_only["roles"]["staff"]
            await rig.control(
                "PATCH",
                f"/sandbox/users/{both['id']}",
                {"roles": {"teacher": None, "staff": {"schools": staff_role["schools"], "roles": []}}},
            )
            await until(p_both.logged_out, what="the session to end")
        assert not await p_teacher.logged_out()
        assert 'clever_events_sessions_changed_total{change="ended"} 1.0' in metrics.render().decode()
