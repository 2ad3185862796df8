"""Error answers shaped as Clever's own.

Data API errors carry `{"message": ...}` (the spec's BadRequest/NotFound/InternalError);
OAuth endpoints carry `{"error": ..., "error_description": ...}`; a path Clever does not
serve, or a token used where its type is not allowed, gets an HTML page.
"""

from __future__ import annotations

from starlette.responses import HTMLResponse, JSONResponse, Response

_NOT_FOUND_HTML = (
    "<!DOCTYPE html><html><head><title>Clever | Page Not Found</title></head>"
    "<body><h1>Page not found</h1><p>The page you requested does not exist.</p></body></html>"
)


def api_error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status, headers=headers)


def oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def html_not_found() -> Response:
    return HTMLResponse(_NOT_FOUND_HTML, status_code=404)


class SandboxHTTPError(Exception):
    """Raised inside sandbox handlers; the app turns it into `response`."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response
