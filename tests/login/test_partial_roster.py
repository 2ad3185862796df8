"""Logins and refreshes when Clever gives the user record but not every other part of the
roster: the login succeeds, the Principal names what is missing, a metric counts it, and a
refresh fills it in. Whole logins over real HTTP against the sandbox and a real Redis."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.web.routes.sessions import PARTIAL_REFRESH_INTERVAL_SECONDS
from tests.clever.sandbox_control import add_fault
from tests.conftest import BackendFactory, RunningSandbox
from tests.support.browser import Browser
from tests.support.demo import demo_user, expected_resource_ids, expected_section_ids
from tests.web.test_metrics import samples

REFRESH = {"X-Requested-With": "t"}


async def parts_unavailable(backend: str) -> dict[tuple[str, str], float]:
    async with httpx.AsyncClient() as http:
        exposition = (await http.get(f"{backend}/metrics")).text
    return {
        (labels["purpose"], labels["part"]): value
        for key, value in samples(exposition, "roster_parts_unavailable_total").items()
        if (labels := dict(key))
    }


# How Clever may fail to give one part: an error answer (as for an app without the scope), an
# HTML page in place of JSON, a server error that outlasts the retries.
FAILURES: dict[str, dict[str, Any]] = {
    "forbidden": {"status": 403},
    "html": {"status": 200, "body": "html"},
    "server_error": {"status": 503},
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
async def test_a_login_without_resources_succeeds_and_says_they_are_unavailable(
    failure: str, sandbox: RunningSandbox, backend: str
) -> None:
    teacher = demo_user(sandbox.sandbox.store, "teacher")
    await add_fault(sandbox.url, "/v3.1/users/*/resources", method="GET", count=None, **FAILURES[failure])

    async with Browser(backend) as browser:
        landed = await browser.login(teacher["id"])
        assert landed.response.status_code == 302, landed.response.text
        answer = (await browser.session()).json()

    assert answer["user"]["id"] == teacher["id"]
    assert answer["roster"]["unavailable"] == ["resources"]
    assert answer["resources"] == []
    assert {section["id"] for section in answer["sections"]} == expected_section_ids(
        sandbox.sandbox.store, teacher
    )
    counted = await parts_unavailable(backend)
    assert counted[("login", "resources")] == 1
    assert counted[("login", "sections")] == 0  # every label set shows from the start


async def test_sections_that_time_out_after_the_retries_leave_the_login_standing(
    sandbox: RunningSandbox, make_backend: BackendFactory
) -> None:
    teacher = demo_user(sandbox.sandbox.store, "teacher")
    await add_fault(sandbox.url, "/v3.1/users/*/sections", method="GET", latency_ms=2500, count=None)
    with make_backend(CLEVER_TIMEOUT="1") as backend:
        async with Browser(backend) as browser:
            landed = await browser.login(teacher["id"])
            assert landed.response.status_code == 302, landed.response.text
            answer = (await browser.session()).json()
        assert (await parts_unavailable(backend))[("login", "sections")] == 1
    assert answer["roster"]["unavailable"] == ["sections"]
    assert answer["sections"] == []
    assert answer["resources"]


async def test_a_contacts_students_unavailable_are_marked(sandbox: RunningSandbox, backend: str) -> None:
    contact = demo_user(sandbox.sandbox.store, "contact")
    await add_fault(sandbox.url, "/v3.1/users/*/mystudents", method="GET", status=500, count=None)

    async with Browser(backend) as browser:
        landed = await browser.login(contact["id"])
        assert landed.response.status_code == 302, landed.response.text
        answer = (await browser.session()).json()

    assert "students" in answer["roster"]["unavailable"]
    assert answer["roles"]["contact"]["students"] == []
    assert (await parts_unavailable(backend))[("login", "students")] == 1


async def test_the_user_record_is_still_required(sandbox: RunningSandbox, backend: str) -> None:
    teacher = demo_user(sandbox.sandbox.store, "teacher")
    await add_fault(sandbox.url, f"/v3.1/users/{teacher['id']}", method="GET", status=403, count=None)

    async with Browser(backend) as browser:
        landed = await browser.login(teacher["id"])
        assert landed.response.status_code >= 400
        assert (await browser.session()).status_code == 401


async def test_a_whole_login_carries_no_unavailable_list(sandbox: RunningSandbox, backend: str) -> None:
    teacher = demo_user(sandbox.sandbox.store, "teacher")
    async with Browser(backend) as browser:
        await browser.login(teacher["id"])
        answer = (await browser.session()).json()
    assert "unavailable" not in answer["roster"]


async def test_a_refresh_fills_in_what_the_login_went_without(sandbox: RunningSandbox, backend: str) -> None:
    teacher = demo_user(sandbox.sandbox.store, "teacher")
    store = sandbox.sandbox.store
    await add_fault(sandbox.url, "/v3.1/users/*/resources", method="GET", status=403, count=1)
    async with Browser(backend) as browser:
        await browser.login(teacher["id"])
        assert (await browser.session()).json()["roster"]["unavailable"] == ["resources"]

        refreshed = await browser.http.post(f"{backend}/auth/session/refresh", headers=REFRESH)

        assert refreshed.status_code == 200, refreshed.text
        assert "unavailable" not in refreshed.json()["roster"]
        answer = (await browser.session()).json()
    assert "unavailable" not in answer["roster"]
    assert {resource["id"] for resource in answer["resources"]} == expected_resource_ids(store, teacher)
    counted = await parts_unavailable(backend)
    assert counted[("login", "resources")] == 1
    assert counted[("refresh", "resources")] == 0


async def test_a_refresh_that_cannot_read_a_part_keeps_the_one_the_session_had(
    sandbox: RunningSandbox, backend: str
) -> None:
    teacher = demo_user(sandbox.sandbox.store, "teacher")
    store = sandbox.sandbox.store
    async with Browser(backend) as browser:
        await browser.login(teacher["id"])
        before = (await browser.session()).json()
        assert before["resources"]
        await add_fault(sandbox.url, "/v3.1/users/*/resources", method="GET", status=403, count=None)

        refreshed = await browser.http.post(f"{backend}/auth/session/refresh", headers=REFRESH)

        assert refreshed.status_code == 200, refreshed.text
        answer = (await browser.session()).json()
    assert answer["roster"]["unavailable"] == ["resources"]  # so a later refresh tries again
    assert answer["resources"] == before["resources"]
    assert {resource["id"] for resource in answer["resources"]} == expected_resource_ids(store, teacher)
    assert answer["roster"]["fetched_at"] > before["roster"]["fetched_at"]


async def test_a_partial_session_may_refresh_sooner_than_a_whole_one(
    sandbox: RunningSandbox, backend: str
) -> None:
    teacher = demo_user(sandbox.sandbox.store, "teacher")
    async with Browser(backend) as whole, Browser(backend) as partial:
        await whole.login(teacher["id"])
        await add_fault(sandbox.url, "/v3.1/users/*/resources", method="GET", status=403, count=None)
        await partial.login(teacher["id"])
        waits = {}
        for name, browser in (("whole", whole), ("partial", partial)):
            first = await browser.http.post(f"{backend}/auth/session/refresh", headers=REFRESH)
            assert first.status_code == 200, first.text
            again = await browser.http.post(f"{backend}/auth/session/refresh", headers=REFRESH)
            assert again.status_code == 429, again.text
            waits[name] = int(again.headers["Retry-After"])

    assert waits["partial"] <= PARTIAL_REFRESH_INTERVAL_SECONDS < waits["whole"]
