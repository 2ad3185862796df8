"""What the partner's backend services ask of a district's roster copy: a full sync now."""

from __future__ import annotations

from typing import Literal, TypedDict

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.roster.district_tokens import DistrictNotConnected
from app.settings import DISTRICT_ID
from app.web.problems import AppError
from app.web.routes.sessions import service_client
from app.web.services import services


class SyncRequested(TypedDict):
    """What `POST /auth/districts/{district_id}/sync` answers (202)."""

    district_id: str
    sync: Literal["requested", "already_requested"]


def district_routes() -> list[BaseRoute]:
    return [Route("/auth/districts/{district_id}/sync", request_sync, methods=["POST"])]


async def request_sync(request: Request) -> Response:
    """Ask the events worker for a full sync of the district (app.roster.store, `request_sync`);
    the worker takes the request on its next poll of the district."""
    svc = services(request)
    await service_client(request, svc)
    district_id = request.path_params["district_id"]
    if not DISTRICT_ID.match(district_id):
        raise AppError("invalid_district")
    allowed = svc.settings.allowed_districts
    if allowed is not None and district_id not in allowed:
        raise AppError("district_not_allowed")
    try:
        # The worker syncs only the districts Clever lists a token for: a request for any other
        # would wait unanswered. Cached; a cold cache costs one call with the app's credentials.
        await svc.district_tokens.get(district_id)
    except DistrictNotConnected:
        raise AppError("district_not_found") from None
    fresh = await svc.roster.request_sync(district_id)
    body: SyncRequested = {"district_id": district_id, "sync": "requested" if fresh else "already_requested"}
    return JSONResponse(body, status_code=202)
