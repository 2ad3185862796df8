"""The demo partner page in a real browser: Debian's Chromium, headless, driven by Playwright.

The sandbox, the backend and the demo page each run on an origin of their own (ports of
127.0.0.1), as `clever-login dev` serves them. Cookies are per host, not per port, so the
backend's cookies on 127.0.0.1 also reach the demo page's port: expected locally.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from app.core import open_core
from app.events.metrics import EventMetrics
from app.events.process import build_worker
from app.web.cookies import Cookies
from clever_sandbox.oauth import SIGN_IN_COOKIE
from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS, OUTPUT
from tests.support.demo import User, demo_user, expected_roles, expected_section_ids
from tests.support.devstack import RunningStack, running_dev_stack

pytest.importorskip("playwright.async_api", reason="playwright is not installed (a dev dependency)")
if CHROMIUM is None:
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

# Only once both are known to be there.
from playwright.async_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Request,
    Response,
    async_playwright,
    expect,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROLE_LABELS = {
    "student": "Student",
    "teacher": "Teacher",
    "staff": "Staff",
    "district_admin": "District admin",
}


@pytest.fixture
def stack(redis_url: str, key_prefix: str) -> Iterator[RunningStack]:
    with running_dev_stack(redis_url, key_prefix=key_prefix) as running:
        yield running


# --- what a person does ----------------------------------------------------------------------


def full_name(user: User) -> str:
    name = user["name"]
    return " ".join(part for part in (name.get("first"), name.get("middle"), name.get("last")) if part)


def picker_label(stack: RunningStack, user: User) -> str:
    return next(login.label for login in stack.store.demo_logins() if login.user_id == user["id"])


def session_answer(stack: RunningStack) -> Callable[[Response], bool]:
    url = f"{stack.backend_url}/auth/session"
    return lambda response: response.url == url and response.request.method == "GET"


async def pick_on_clever(page: Page, stack: RunningStack, user: User) -> dict[str, Any]:
    """On the sandbox's picker, pick `user`; answers the session the partner page then fetched."""
    async with page.expect_response(session_answer(stack)) as answered:
        await page.get_by_role("link", name=picker_label(stack, user)).click()
    response = await answered.value
    assert page.url == stack.demo_url
    assert response.status == 200, await response.text()
    # The page's own credentialed call, from its origin, allowed by the backend's CORS answer.
    assert await response.request.header_value("origin") == stack.demo_url.rstrip("/")
    assert response.headers["access-control-allow-origin"] == stack.demo_url.rstrip("/")
    assert response.headers["access-control-allow-credentials"] == "true"
    principal: dict[str, Any] = await response.json()
    return principal


async def start_login(page: Page, stack: RunningStack) -> None:
    """Open the partner page and click its login button; stops on Clever's picker."""
    await page.goto(stack.demo_url)
    await expect(page.get_by_role("status")).to_have_text("Not signed in.")
    await page.get_by_role("link", name="Log in with Clever").click()
    await page.wait_for_url(f"{stack.sandbox_url}/oauth/authorize?*")


async def log_in(page: Page, stack: RunningStack, kind: str) -> tuple[User, dict[str, Any]]:
    user = demo_user(stack.store, kind)
    await start_login(page, stack)
    return user, await pick_on_clever(page, stack, user)


def section_of(page: Page, title: str) -> Locator:
    return page.locator("#principal > section").filter(
        has=page.get_by_role("heading", name=title, exact=True)
    )


async def assert_page_shows(
    page: Page, stack: RunningStack, user: User, principal: dict[str, Any], login_method: str
) -> None:
    """The partner page shows `user` as the sandbox holds them, from the session it fetched."""
    store = stack.store
    assert principal["user"]["id"] == user["id"]
    assert principal["user"]["roles"] == expected_roles(user)
    assert {s["id"] for s in principal["sections"]} == expected_section_ids(store, user)

    await expect(page.get_by_role("status")).to_have_text("Signed in.")
    await expect(page.locator("#greeting")).to_have_text(f"Hello, {full_name(user)}")
    await expect(section_of(page, "Who").locator("dd").first).to_have_text(full_name(user))
    # The district and schools by name (the district directory), not by id.
    district = store.district(user["district"])
    assert district is not None
    assert principal["district"]["name"] == district["name"]
    shown = section_of(page, "Who").locator("dt", has_text="District").locator("+ dd")
    await expect(shown).to_have_text(district["name"])
    school_names = {school["id"]: school["name"] for school in store.all("schools")}
    for role in principal["roles"].values():
        for school in role.get("schools", []) if isinstance(role, dict) else []:
            await expect(section_of(page, "Roles")).to_contain_text(school_names[school])
            await expect(section_of(page, "Roles")).not_to_contain_text(school)
    roles = section_of(page, "Roles").locator("li")
    await expect(roles).to_contain_text([ROLE_LABELS[role] for role in expected_roles(user)])
    primary = roles.filter(has=page.locator(".badge", has_text="primary"))
    await expect(primary).to_contain_text(ROLE_LABELS[principal["user"]["primary_role"]])

    names = sorted(section["name"] for section in store.roster.sections_of_user(user))
    assert names, "a demo user with sections"
    cells = section_of(page, "Sections").locator("tbody tr td:first-child")
    await expect(cells).to_have_count(len(names))
    assert sorted(await cells.all_text_contents()) == names

    method = section_of(page, "Session").locator("dt", has_text="Login method").locator("+ dd")
    await expect(method).to_have_text(login_method)


async def assert_cookies_out_of_reach(context: BrowserContext, page: Page, *, host: str, secure: bool) -> str:
    """The backend's cookies as the browser holds them; answers the session token."""
    prefix = "__Host-" if secure else ""
    # The dev stack's cookie names end in a suffix new at every start (app/dev/stack.py).
    cookies = {str(cookie.get("name")).rpartition("_")[0]: cookie for cookie in await context.cookies()}
    session = cookies[f"{prefix}clever_session"]
    pending = cookies[f"{prefix}clever_login"]
    for cookie in (session, pending):
        assert cookie.get("httpOnly") is True
        assert cookie.get("secure") is secure
        assert cookie.get("sameSite") == "Lax"
        assert cookie.get("path") == "/"
        assert cookie.get("domain") == host  # host-only: no Domain attribute, so no leading dot
    # Both session cookies: gone when the browser closes, so nothing of a login outlives it.
    assert session.get("expires") == -1
    assert pending.get("expires") == -1
    if secure:
        assert "clever_session" not in cookies
        assert "clever_login" not in cookies
    token = session.get("value", "")
    assert token

    visible = await page.evaluate(
        """() => ({
            cookie: document.cookie,
            local: JSON.stringify({ ...localStorage }),
            session: JSON.stringify({ ...sessionStorage }),
            html: document.documentElement.outerHTML,
        })"""
    )
    for where, text in visible.items():
        assert token not in text, f"the session token is readable from JavaScript ({where})"
    assert "clever_session" not in visible["cookie"]
    assert "clever_login" not in visible["cookie"]
    return token


async def session_with_bearer(stack: RunningStack, token: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(
            f"{stack.backend_url}/auth/session", headers={"Authorization": f"Bearer {token}"}
        )


async def screenshot(page: Page, name: str, record_property: Callable[[str, object], None]) -> Path:
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / name
    await page.screenshot(path=path, full_page=True)
    record_property("screenshot", str(path))
    return path


# --- the scenarios ---------------------------------------------------------------------------


async def test_a_teacher_logs_in_and_the_page_shows_who_they_are(
    stack: RunningStack, context: BrowserContext, record_property: Callable[[str, object], None]
) -> None:
    page = await context.new_page()
    teacher, principal = await log_in(page, stack, "teacher")
    await assert_page_shows(page, stack, teacher, principal, "Log in with Clever")
    assert principal["session"]["login_method"] == "clever_sso"
    token = await assert_cookies_out_of_reach(context, page, host="127.0.0.1", secure=False)
    assert (await session_with_bearer(stack, token)).json()["user"]["id"] == teacher["id"]
    await screenshot(page, "logged-in-teacher.png", record_property)


async def test_a_student_logs_in_and_the_page_shows_their_record(
    stack: RunningStack, context: BrowserContext, record_property: Callable[[str, object], None]
) -> None:
    page = await context.new_page()
    student, principal = await log_in(page, stack, "student")
    await assert_page_shows(page, stack, student, principal, "Log in with Clever")
    await expect(section_of(page, "Student record")).to_be_visible()
    await assert_cookies_out_of_reach(context, page, host="127.0.0.1", secure=False)
    await screenshot(page, "logged-in-student.png", record_property)


async def test_a_portal_launch_is_bound_to_the_browser_and_lands_on_the_page(
    stack: RunningStack, context: BrowserContext
) -> None:
    page = await context.new_page()
    callbacks: list[Request] = []
    callback_url = f"{stack.backend_url}/auth/callback?"
    page.on(
        "request", lambda request: callbacks.append(request) if request.url.startswith(callback_url) else None
    )
    student = demo_user(stack.store, "student")

    await page.goto(stack.demo_url)
    await page.get_by_role("link", name="simulate a Clever Portal launch").click()
    await page.wait_for_url(f"{stack.sandbox_url}/oauth/instant-login?*")
    principal = await pick_on_clever(page, stack, student)

    await assert_page_shows(page, stack, student, principal, "Clever Portal launch")
    assert principal["session"]["login_method"] == "clever_portal"
    # Clever's code came with no state and was not exchanged; the browser went back to Clever
    # with a login of its own, and that one's code (with its state) made the session.
    states = [parse_qs(urlsplit(request.url).query).get("state") for request in callbacks]
    assert [state is not None for state in states] == [False, True]


async def test_logging_out_ends_the_session(stack: RunningStack, context: BrowserContext) -> None:
    page = await context.new_page()
    await log_in(page, stack, "teacher")
    token = await assert_cookies_out_of_reach(context, page, host="127.0.0.1", secure=False)

    # Log out ends the backend's session, then the sandbox's sign-in (the page goes there and back).
    async with page.expect_request(lambda r: r.url.startswith(f"{stack.sandbox_url}/oauth/logout?")):
        await page.get_by_role("button", name="Log out").click()
    await page.wait_for_url(stack.demo_url)
    await expect(page.get_by_role("status")).to_have_text("Logged out.")
    await expect(page.get_by_role("heading", name="Welcome")).to_be_visible()
    await expect(page.get_by_role("link", name="Log in with Clever")).to_be_visible()
    await expect(page.locator("#signed-in")).to_be_hidden()
    # Still signed in to Clever: the page offers the district's Portal, as the session named it.
    district = stack.store.district(demo_user(stack.store, "teacher")["district"])
    assert district is not None
    back = page.get_by_role("link", name="Back to Clever Portal")
    await expect(back).to_be_visible()
    await expect(back).to_have_attribute("href", district["portal_url"])

    names = {cookie.get("name") for cookie in await context.cookies()}
    assert "clever_session" not in names
    assert SIGN_IN_COOKIE not in names
    # This browser (the context's own requests share its cookies) has no session any more...
    answer = await context.request.get(f"{stack.backend_url}/auth/session")
    assert answer.status == 401
    assert (await answer.json())["error"] == "no_session"
    # ...and the ticket it held is dead on the server, not merely forgotten by the browser.
    assert (await session_with_bearer(stack, token)).status_code == 401


async def test_two_tabs_logging_in_at_once_both_end_logged_in(
    stack: RunningStack, context: BrowserContext
) -> None:
    teacher = demo_user(stack.store, "teacher")
    tabs = [await context.new_page(), await context.new_page()]
    for tab in tabs:
        await start_login(tab, stack)
    # Two logins pending at once, each with its own state, behind one pending-login cookie.
    states = {parse_qs(urlsplit(tab.url).query)["state"][0] for tab in tabs}
    assert len(states) == 2
    names = Cookies(secure=False, suffix=stack.settings.cookie_name_suffix)
    pending = [cookie for cookie in await context.cookies() if cookie.get("name") == names.login_name]
    assert len(pending) == 1

    principals = await asyncio.gather(*(pick_on_clever(tab, stack, teacher) for tab in tabs))
    assert [principal["user"]["id"] for principal in principals] == [teacher["id"]] * 2
    sessions = [cookie for cookie in await context.cookies() if cookie.get("name") == names.session_name]
    assert len(sessions) == 1
    for tab in tabs:
        await tab.reload()
        await expect(tab.locator("#greeting")).to_have_text(f"Hello, {full_name(teacher)}")


@pytest.mark.parametrize("how", ["portal", "login_link"])
async def test_a_second_person_on_the_same_browser_replaces_the_first(
    how: str, stack: RunningStack, context: BrowserContext
) -> None:
    page = await context.new_page()
    teacher, _ = await log_in(page, stack, "teacher")
    teacher_token = await assert_cookies_out_of_reach(context, page, host="127.0.0.1", secure=False)
    assert (await session_with_bearer(stack, teacher_token)).json()["user"]["id"] == teacher["id"]

    # The teacher walks away still signed in; a student sits down at the same device. Clever
    # still remembers the teacher, so the student tells Clever who they are.
    student = demo_user(stack.store, "student")
    if how == "portal":
        # From the Clever Portal, signed in there as themselves.
        portal = await page.locator("#portal-link").get_attribute("href")
        assert portal is not None
        async with page.expect_response(session_answer(stack)) as answered:
            await page.goto(f"{portal}&login_hint={student['id']}")
        assert (await answered.value).status == 200
    else:
        # Through the partner's login link, after signing the teacher out of Clever.
        await context.clear_cookies(name=SIGN_IN_COOKIE)
        login = await page.locator("#login-link").get_attribute("href")
        assert login is not None
        await page.goto(login)
        await pick_on_clever(page, stack, student)

    assert page.url == stack.demo_url
    await expect(page.locator("#greeting")).to_have_text(f"Hello, {full_name(student)}")
    student_token = await assert_cookies_out_of_reach(context, page, host="127.0.0.1", secure=False)
    assert student_token != teacher_token
    assert (await session_with_bearer(stack, teacher_token)).status_code == 401
    assert (await session_with_bearer(stack, student_token)).json()["user"]["id"] == student["id"]


async def test_secure_cookies_with_the_host_prefix_on_localhost(
    redis_url: str, key_prefix: str, context: BrowserContext, record_property: Callable[[str, object], None]
) -> None:
    # Chromium treats http://localhost as a secure context, so it stores `Secure` cookies (and so
    # `__Host-` ones) that a production backend (COOKIE_SECURE=true) sets over plain http there.
    with running_dev_stack(
        redis_url, key_prefix=key_prefix, host="localhost", backend_environ={"COOKIE_SECURE": "true"}
    ) as stack:
        assert stack.settings.cookie_secure is True
        page = await context.new_page()
        teacher, principal = await log_in(page, stack, "teacher")
        await assert_page_shows(page, stack, teacher, principal, "Log in with Clever")
        await assert_cookies_out_of_reach(context, page, host="localhost", secure=True)
        await screenshot(page, "logged-in-teacher-host-prefix.png", record_property)


async def test_a_callback_reopened_after_a_browser_restart_logs_nobody_in(
    stack: RunningStack, tmp_path: Path
) -> None:
    """A shared classroom device: one person logs in and closes the browser; the next opens the
    callback URL from the history. A real Chromium profile on disk, closed and started again."""
    profile = tmp_path / "profile"
    callbacks: list[str] = []
    callback_url = f"{stack.backend_url}/auth/callback?"
    async with async_playwright() as playwright:

        async def launch() -> BrowserContext:
            context = await playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            context.set_default_timeout(10_000)
            return context

        first = await launch()
        page = await first.new_page()
        page.on("request", lambda r: callbacks.append(r.url) if r.url.startswith(callback_url) else None)
        await log_in(page, stack, "teacher")
        assert (await first.request.get(f"{stack.backend_url}/auth/session")).status == 200
        await first.close()  # the browser exits: its session cookies go, persistent ones are saved

        again = await launch()
        try:
            assert callbacks, "the login went through the callback"
            assert (await again.request.get(f"{stack.backend_url}/auth/session")).status == 401
            page = await again.new_page()
            answer = await page.goto(callbacks[0])
            assert answer is not None
            assert answer.status == 400
            await expect(page.get_by_text("login_expired")).to_be_visible()
            assert (await again.request.get(f"{stack.backend_url}/auth/session")).status == 401
            assert {cookie.get("name") for cookie in await again.cookies()} & {"clever_session"} == set()
        finally:
            await again.close()


# --- switching users, cancelling, and a phone ------------------------------------------------


async def no_sideways_scroll(page: Page) -> None:
    widths = await page.evaluate(
        "() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth })"
    )
    assert widths["scroll"] <= widths["inner"], f"{page.url} scrolls sideways: {widths}"


async def test_log_out_then_log_in_asks_who_again(
    stack: RunningStack, context: BrowserContext, record_property: Callable[[str, object], None]
) -> None:
    page = await context.new_page()
    teacher, _ = await log_in(page, stack, "teacher")
    await expect(page.locator("#greeting")).to_have_text(f"Hello, {full_name(teacher)}")
    async with page.expect_request(lambda r: r.url.startswith(f"{stack.sandbox_url}/oauth/logout?")):
        await page.get_by_role("button", name="Log out").click()
    await page.wait_for_url(stack.demo_url)
    await expect(page.get_by_role("status")).to_have_text("Logged out.")

    # Clever no longer remembers the teacher: the picker shows, and someone else signs in.
    student = demo_user(stack.store, "student")
    await page.get_by_role("link", name="Log in with Clever").click()
    await page.wait_for_url(f"{stack.sandbox_url}/oauth/authorize?*")
    await expect(page.get_by_role("heading", name="Log in with Clever")).to_be_visible()
    await screenshot(page, "sandbox-picker.png", record_property)
    principal = await pick_on_clever(page, stack, student)
    await assert_page_shows(page, stack, student, principal, "Log in with Clever")


async def test_switch_user_goes_straight_to_the_picker(stack: RunningStack, context: BrowserContext) -> None:
    page = await context.new_page()
    await log_in(page, stack, "teacher")
    await page.get_by_role("button", name="Switch user").click()
    await page.wait_for_url(f"{stack.sandbox_url}/oauth/authorize?*")
    await expect(page.get_by_role("heading", name="Log in with Clever")).to_be_visible()
    student = demo_user(stack.store, "student")
    principal = await pick_on_clever(page, stack, student)
    await assert_page_shows(page, stack, student, principal, "Log in with Clever")
    sessions = await context.request.get(f"{stack.backend_url}/auth/session")
    assert (await sessions.json())["user"]["id"] == student["id"]


async def test_not_you_at_the_sandbox_forgets_the_remembered_user(
    stack: RunningStack, context: BrowserContext
) -> None:
    page = await context.new_page()
    teacher, _ = await log_in(page, stack, "teacher")
    # A login for another district: the remembered teacher cannot sign in there, so the picker
    # shows and says who the sandbox remembers.
    login = await page.locator("#login-link").get_attribute("href")
    assert login is not None
    second = stack.store.district_ids()[1]
    await page.goto(f"{login}&district_id={second}")
    await page.wait_for_url(f"{stack.sandbox_url}/oauth/authorize?*")
    remembered = page.locator(".who")
    await expect(remembered).to_contain_text(picker_label(stack, teacher))
    await remembered.get_by_role("link", name="Switch user").click()
    await page.wait_for_url(f"{stack.sandbox_url}/oauth/authorize?*")
    await expect(page.locator(".who")).to_have_count(0)
    assert SIGN_IN_COOKIE not in {cookie.get("name") for cookie in await context.cookies()}


async def test_cancelling_at_clever_says_so_and_offers_to_log_in_again(
    stack: RunningStack, context: BrowserContext, record_property: Callable[[str, object], None]
) -> None:
    page = await context.new_page()
    await start_login(page, stack)
    async with page.expect_response(
        lambda r: r.url.startswith(f"{stack.backend_url}/auth/callback?")
    ) as done:
        await page.get_by_role("link", name="Cancel").click()
    assert (await done.value).status == 400
    await expect(page.get_by_role("heading", name="You cancelled signing in with Clever")).to_be_visible()
    await expect(page.get_by_text("login_cancelled")).to_be_visible()
    await screenshot(page, "login-cancelled.png", record_property)
    await page.get_by_role("link", name="Log in again").click()
    await page.wait_for_url(f"{stack.sandbox_url}/oauth/authorize?*")


async def test_a_contact_sees_their_students(
    stack: RunningStack, context: BrowserContext, record_property: Callable[[str, object], None]
) -> None:
    page = await context.new_page()
    contact, _ = await log_in(page, stack, "contact")
    links = contact["roles"]["contact"]["student_relationships"]
    rows = section_of(page, "Linked students").locator("tbody tr")
    await expect(rows).to_have_count(len(links))
    for link in links:
        assert link["relationship"] != "Self"
    await screenshot(page, "logged-in-contact.png", record_property)


@pytest.mark.parametrize("kind", ["student", "teacher", "contact"])
async def test_a_phone_never_scrolls_sideways(
    kind: str, stack: RunningStack, chromium: Browser, record_property: Callable[[str, object], None]
) -> None:
    phone = await chromium.new_context(viewport={"width": 390, "height": 844})
    phone.set_default_timeout(10_000)
    try:
        page = await phone.new_page()
        await page.goto(stack.demo_url)
        await expect(page.get_by_role("status")).to_have_text("Not signed in.")
        await no_sideways_scroll(page)
        if kind == "student":
            await screenshot(page, "phone-signed-out.png", record_property)
            await page.goto(f"{stack.sandbox_url}/")
            await no_sideways_scroll(page)
            await screenshot(page, "phone-sandbox-home.png", record_property)
            await page.goto(stack.demo_url)
        await page.get_by_role("link", name="Log in with Clever").click()
        await page.wait_for_url(f"{stack.sandbox_url}/oauth/authorize?*")
        await no_sideways_scroll(page)
        if kind == "student":
            await screenshot(page, "phone-sandbox-picker.png", record_property)
            # Cancel, and the backend's page that says so, then "Log in again" back to the picker.
            await page.get_by_role("link", name="Cancel").click()
            await expect(
                page.get_by_role("heading", name="You cancelled signing in with Clever")
            ).to_be_visible()
            await no_sideways_scroll(page)
            await screenshot(page, "phone-login-cancelled.png", record_property)
            await page.get_by_role("link", name="Log in again").click()
            await page.wait_for_url(f"{stack.sandbox_url}/oauth/authorize?*")
        user = demo_user(stack.store, kind)
        await pick_on_clever(page, stack, user)
        await expect(page.locator("#greeting")).to_have_text(f"Hello, {full_name(user)}")
        await no_sideways_scroll(page)
        await screenshot(page, f"phone-logged-in-{kind}.png", record_property)
        await page.locator("details summary").click()  # the raw JSON too
        await no_sideways_scroll(page)
    finally:
        await phone.close()


async def test_every_student_field_has_a_readable_label(
    redis_url: str, key_prefix: str, context: BrowserContext, record_property: Callable[[str, object], None]
) -> None:
    with running_dev_stack(
        redis_url, key_prefix=key_prefix, backend_environ={"STUDENT_FIELDS": "*"}
    ) as stack:
        page = await context.new_page()
        _, principal = await log_in(page, stack, "student")
        record = principal["roles"]["student"]
        assert len(record) > 10, "every v3.1 field the sandbox holds"
        labels = await section_of(page, "Student record").locator("dt").all_text_contents()
        assert len(labels) == len(record)
        for label in labels:
            assert "_" not in label, f"a raw field name: {label}"
            assert label[0].isupper()
        values = await section_of(page, "Student record").locator("dd").all_text_contents()
        assert not [value for value in values if value.startswith(("{", "["))], "objects shown as JSON"
        await screenshot(page, "logged-in-student-every-field.png", record_property)


async def test_the_page_says_where_the_roster_came_from(
    stack: RunningStack, context: BrowserContext, record_property: Callable[[str, object], None]
) -> None:
    page = await context.new_page()
    _, principal = await log_in(page, stack, "teacher")
    assert principal["roster"]["source"] == "live"
    roster = section_of(page, "Roster")
    await expect(roster.locator("dd").first).to_have_text("Clever's Data API, at login")
    await expect(roster.locator("dd").last).to_have_text("nothing")

    # The events worker beside the backend (as `clever-login dev` runs it) copies the district;
    # from then on a login reads the copy.
    login_url = await page.locator("#login-link").get_attribute("href")
    assert login_url is not None
    async with open_core(stack.settings) as core:
        worker = build_worker(core, stack.settings, EventMetrics())
        running = asyncio.create_task(worker.run())
        try:
            for _ in range(60):
                async with page.expect_response(session_answer(stack)) as answered:
                    await page.goto(login_url)  # the sandbox remembers the pick: straight back
                if (await (await answered.value).json())["roster"]["source"] == "store":
                    break
                await asyncio.sleep(0.5)
        finally:
            worker.stop()
            await running
    await expect(roster.locator("dd").first).to_have_text("The district's roster copy (no call to Clever)")
    await expect(roster.locator("dt")).to_contain_text(["Read from", "Copy synced"])
    await screenshot(page, "logged-in-teacher-roster-from-the-copy.png", record_property)


async def test_a_refused_refresh_says_what_failed_and_its_code(
    stack: RunningStack, context: BrowserContext
) -> None:
    page = await context.new_page()
    await log_in(page, stack, "teacher")
    refresh = page.get_by_role("button", name="Refresh roster")
    # At most one refresh every 30 s per session: of two in a row, the second is refused.
    for _ in range(2):
        async with page.expect_response(lambda r: r.url.endswith("/auth/session/refresh")):
            await refresh.click()
        await expect(refresh).to_be_enabled()
    await expect(page.get_by_role("status")).to_have_text(
        re.compile(r"^The roster could not be refreshed: .+ \(refresh_too_soon\)$")
    )
