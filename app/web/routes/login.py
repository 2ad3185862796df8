"""`/auth/login` and `/auth/callback`: Clever's authorization-code flow, for logins we start and
for logins Clever starts (Clever Portal, Instant Login), which arrive with a code and no state.

Such a code is never exchanged as it came: the browser is sent back to Clever with a fresh
transaction of its own, so every code exchanged is bound to the browser that asked for it.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from app.crypto.ticket import Ticket
from app.login.identity import identify
from app.login.pending import Done, Gone, Taken
from app.login.returnto import safe_return_to
from app.login.transaction import (
    LoginMethod,
    LoginTransaction,
    authorize_url,
    exchange_verifier,
    is_state,
)
from app.settings import CALLBACK_PATH, DISTRICT_ID
from app.web.problems import AppError, as_service_error
from app.web.services import Services, services

logger = logging.getLogger("app.web.routes.login")

_MAX_PARAM_LENGTH = 2048


def login_routes() -> list[BaseRoute]:
    return [
        Route("/auth/login", login, methods=["GET"]),
        Route(CALLBACK_PATH, callback, methods=["GET"]),
    ]


async def login(request: Request) -> Response:
    svc = services(request)
    params = _single_params(svc, request)
    return_to = safe_return_to(
        params.get("return_to"),
        frontend_url=svc.settings.frontend_url,
        allowed_origins=svc.settings.allowed_return_to,
    )
    if return_to is None:
        raise _refused(svc, "invalid_return_to")
    district_id = params.get("district_id") or None
    if district_id is not None and not DISTRICT_ID.match(district_id):
        raise _refused(svc, "invalid_district")
    browser = svc.pending.decode_browser(request.cookies.get(svc.cookies.login_name))
    return await _start(svc, browser, return_to=return_to, login_method="clever_sso", district_id=district_id)


async def callback(request: Request) -> Response:
    try:
        return await _callback(request)
    except Exception as exc:
        # A failed login, counted by the code it is answered with.
        method = getattr(request.state, "login_method", None)
        services(request).metrics.login(as_service_error(exc).code, method)
        raise


async def _callback(request: Request) -> Response:
    svc = services(request)
    params = _single_params(svc, request)
    code, state, error = params.get("code"), params.get("state"), params.get("error")
    if state is not None and not is_state(state):
        raise _refused(svc, "invalid_request")  # no state we minted looks like that: nothing to look up
    browser = svc.pending.decode_browser(request.cookies.get(svc.cookies.login_name))
    if error is not None:
        if state and browser is not None:
            await svc.pending.fail(browser, state)
        # Clever answers access_denied when the person chose Cancel on its sign-in page.
        code = "login_cancelled" if error == "access_denied" else "clever_denied"
        _security_event(svc, "login refused by Clever", "login_failed", code)
        raise AppError(code)
    if not code or not code.isascii() or not code.isprintable():  # no NUL, CR, LF, ...
        raise _refused(svc, "invalid_request")
    if not state:
        # A login Clever started: ask Clever again, this time bound to this browser.
        _security_event(svc, "login started by Clever", "login_portal_restart")
        return await _start(svc, browser, return_to=svc.settings.frontend_url, login_method="clever_portal")
    if browser is None:
        raise _refused(svc, "login_expired")  # no pending-login cookie: a state from another browser

    outcome = await svc.pending.take(browser, state)
    if isinstance(outcome, Done):
        return await _land_again(svc, outcome)
    if isinstance(outcome, Gone):
        raise _refused(svc, "login_in_progress" if outcome.reason == "in_flight" else "login_expired")
    try:
        return await _complete(request, svc, browser, state, outcome, code)
    except BaseException:
        await svc.pending.fail(browser, state)
        raise


async def _start(
    svc: Services,
    browser: Ticket | None,
    *,
    return_to: str,
    login_method: LoginMethod,
    district_id: str | None = None,
) -> Response:
    # One pending-login cookie per browser, however many tabs log in at once.
    first = browser is None
    browser = browser or svc.pending.new_browser()
    transaction = LoginTransaction.new(
        return_to=return_to, login_method=login_method, district_id=district_id
    )
    if wait := await svc.pending.start(browser, transaction, first=first):
        raise _refused(svc, "too_many_pending_logins", headers={"Retry-After": str(wait)})
    settings = svc.settings
    response = RedirectResponse(
        authorize_url(
            settings.clever_oauth_url,
            client_id=settings.clever_client_id,
            redirect_uri=settings.clever_redirect_uri,
            transaction=transaction,
            pkce=settings.clever_pkce,
        ),
        status_code=302,
    )
    svc.cookies.set_login(response, svc.pending.encode_browser(browser))
    return response


async def _complete(
    request: Request, svc: Services, browser: Ticket, state: str, taken: Taken, code: str
) -> Response:
    settings, transaction = svc.settings, taken.transaction
    request.state.login_method = transaction.login_method  # for the login metric, should this fail
    verifier = exchange_verifier(transaction, pkce=settings.clever_pkce)
    token = await svc.clever.exchange_code(code, settings.clever_redirect_uri, verifier)
    who = await identify(
        svc.clever, svc.oidc, token, client_id=settings.clever_client_id, nonce=transaction.nonce
    )
    if who.library:
        # A Clever Library login: no district, so ALLOWED_DISTRICTS has nothing to match.
        if settings.library_logins == "refuse":
            raise AppError("district_required")
    elif settings.allowed_districts is not None and who.district_id not in settings.allowed_districts:
        raise AppError("district_not_allowed")
    # The district's fresh copy when it holds the person, else Clever (app.roster.source); a
    # Library login's roster is always read live, with the person's own token.
    roster, directory = await svc.person_roster(
        "login",
        user_id=who.user_id,
        district_id=who.district_id,
        login_user_type=who.login_user_type,  # a contact's linked students come in the same round trip
        library_token=who.access_token if who.library else None,
    )
    if directory is not None:
        # The error page offers the way back to the district's Clever Portal (app.web.problems).
        request.state.portal_url = directory.portal_url
    if roster.user.id != who.user_id or (not who.library and roster.user.district != who.district_id):
        raise AppError("clever_error")
    if not roster.holds_any(settings.allowed_roles):
        raise AppError("role_not_allowed")
    principal = roster.principal(
        login_user_type=who.login_user_type, student_fields=settings.student_fields, directory=directory
    )
    # Shared classroom devices: a new login ends whatever session this browser had.
    if previous := request.cookies.get(svc.cookies.session_name):
        await svc.sessions.delete_ticket(previous)
    # The session and the login's completion in one round trip.
    ticket = svc.sessions.new_ticket()
    session_token = svc.sessions.encode(ticket)
    await svc.sessions.create(
        user_id=who.user_id,
        district_id=who.district_id,
        login_method=transaction.login_method,
        principal=principal,
        ticket=ticket,
        alongside=[
            svc.pending.completion(
                browser, state, session_token=session_token, return_to=transaction.return_to
            )
        ],
    )
    svc.metrics.login("success", transaction.login_method)
    logger.info(
        "login succeeded",
        extra={
            "event": "login_succeeded",
            "method": transaction.login_method,
            "identity": who.source,
            "roster": roster.source,
            "authorized_by": who.authorized_by,
        },
    )
    response = RedirectResponse(transaction.return_to, status_code=302)
    svc.cookies.set_session(response, session_token)
    return response


async def _land_again(svc: Services, done: Done) -> Response:
    """A callback repeated in the browser that completed it: same session, same destination."""
    if await svc.sessions.load(done.session_token) is None:
        raise AppError("login_expired")  # logged out (or expired) since: no way back through history
    response = RedirectResponse(done.return_to, status_code=302)
    svc.cookies.set_session(response, done.session_token)  # the first answer may never have arrived
    return response


def _refused(svc: Services, code: str, headers: dict[str, str] | None = None) -> AppError:
    """A login request refused before any call to Clever; a security event, logged as such."""
    _security_event(svc, "login request refused", "login_rejected", code)
    return AppError(code, headers=headers)


def _security_event(svc: Services, message: str, event: str, code: str | None = None) -> None:
    """Counted always; logged within `svc.event_log`'s rate, so a flood of forged requests costs a
    counter, not a log line each."""
    svc.metrics.security_event(event, code)
    svc.event_log.log(
        logger, logging.INFO, message, {"event": event} if code is None else {"event": event, "code": code}
    )


def _single_params(svc: Services, request: Request) -> dict[str, str]:
    """Query parameters, each at most once and of sane length; anything else is a bad request."""
    params: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name in params or len(value) > _MAX_PARAM_LENGTH:
            raise _refused(svc, "invalid_request")
        params[name] = value
    return params
