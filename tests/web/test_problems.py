"""The one table of error codes: every code the service can answer is in `PROBLEMS`, every answer
is made from it, and `/openapi.json` lists exactly it."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
from pathlib import Path
from typing import get_args

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException
from starlette.exceptions import HTTPException

import app
from app.clever import errors as clever_errors
from app.errors import PROBLEMS, ServiceError
from app.roster.district_tokens import DistrictNotConnected
from app.web.health import ReadinessState
from app.web.openapi import openapi_document
from app.web.problems import as_service_error

APP_DIR = Path(app.__file__).parent
# Calls whose first argument is a stable code.
_CODE_TAKERS = frozenset({"AppError", "IdentityError", "json_problem", "page_problem", "problem", "_refused"})


def _subclasses(cls: type[ServiceError]) -> list[type[ServiceError]]:
    found: list[type[ServiceError]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def _codes_in_calls() -> dict[str, list[str]]:
    """Every string literal passed as the first argument of a call taking a code, by module."""
    found: dict[str, list[str]] = {}
    for path in sorted(APP_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name in _CODE_TAKERS:
                found.setdefault(str(path.relative_to(APP_DIR)), []).extend(_literals(node.args[0]))
    return found


def _literals(expr: ast.expr) -> list[str]:
    """The codes an argument can be: a literal, or either branch of `a if test else b`."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return [expr.value]
    if isinstance(expr, ast.IfExp):
        return _literals(expr.body) + _literals(expr.orelse)
    return []


def test_every_error_class_of_the_service_names_a_code_of_the_table() -> None:
    for module in pkgutil.walk_packages(app.__path__, "app."):
        importlib.import_module(module.name)
    classes = _subclasses(ServiceError)
    assert DistrictNotConnected in classes
    assert clever_errors.CleverUnavailable in classes
    everyone: list[type[ServiceError]] = [ServiceError, *classes]
    for cls in everyone:
        assert cls.code in PROBLEMS, cls


def test_every_code_raised_or_answered_by_name_is_in_the_table() -> None:
    found = _codes_in_calls()
    # The handlers, the login flow, the CSRF middleware and readiness among them.
    assert {"web/routes/login.py", "web/routes/sessions.py", "web/middleware/cors_csrf.py"} <= set(found)
    assert "csrf_header_missing" in found["web/middleware/cors_csrf.py"]
    unknown = {module: [c for c in codes if c not in PROBLEMS] for module, codes in found.items()}
    assert {module: codes for module, codes in unknown.items() if codes} == {}


def test_the_readiness_states_and_the_size_limits_answer_from_the_table() -> None:
    not_ready = set(get_args(ReadinessState)) - {"ready"}
    assert not_ready == {"redis_unavailable", "shutting_down"}
    assert not_ready | {"uri_too_long", "headers_too_large", "body_too_large"} <= set(PROBLEMS)


def test_no_module_writes_an_error_answer_of_its_own() -> None:
    """An `{"error": ...}` body written anywhere but app/web/problems.py would bypass the table."""
    writers = []
    for path in sorted((APP_DIR / "web").rglob("*.py")):
        if path.name == "problems.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # A log call's `extra={"error": <exception type>}` answers nothing.
        log_fields = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.keyword) and n.arg == "extra"}
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Dict)
                and id(node) not in log_fields
                and any(isinstance(key, ast.Constant) and key.value == "error" for key in node.keys)
            ):
                writers.append(f"{path.relative_to(APP_DIR)}:{node.lineno}")
    # The OpenAPI document describes the Error schema; it answers nothing.
    assert [w for w in writers if not w.startswith("web/openapi.py")] == []


@pytest.mark.parametrize(
    ("error", "code", "headers"),
    [
        (clever_errors.CleverUnavailable("users", "timeout"), "clever_unavailable", {"Retry-After": "5"}),
        (
            clever_errors.CleverUnavailable("users", "open", retry_after=0.2),
            "clever_unavailable",
            {"Retry-After": "1"},
        ),
        (
            clever_errors.CleverUnavailable("users", "open", retry_after=600),
            "clever_unavailable",
            {"Retry-After": "60"},
        ),
        (
            clever_errors.CleverRateLimited("users", "429", reset_at=None),
            "clever_unavailable",
            {"Retry-After": "5"},
        ),
        (clever_errors.CleverInvalidGrant("exchange_code", "x", status=400), "login_expired", {}),
        (clever_errors.CleverRejected("users", "x", status=400), "clever_error", {}),
        (clever_errors.CleverUnauthorized("users", "x", status=401), "clever_error", {}),
        (clever_errors.CleverNotFound("users", "x", status=404), "clever_error", {}),
        (clever_errors.CleverMalformed("users", "not JSON"), "clever_error", {}),
        (DistrictNotConnected("d"), "district_not_connected", {}),
        (RedisConnectionError("down"), "store_unavailable", {"Retry-After": "2"}),
        (RedisClusterException("no node"), "store_unavailable", {"Retry-After": "2"}),
        (HTTPException(404), "not_found", {}),
        (HTTPException(405, headers={"Allow": "GET"}), "method_not_allowed", {"Allow": "GET"}),
        (HTTPException(400), "invalid_request", {}),
        (RuntimeError("boom"), "internal_error", {}),
    ],
)
def test_each_error_is_answered_with_its_code_and_headers(
    error: Exception, code: str, headers: dict[str, str]
) -> None:
    answered = as_service_error(error)
    assert (answered.code, answered.answer_headers()) == (code, headers)
    assert answered.code in PROBLEMS


def test_the_openapi_document_lists_exactly_the_table() -> None:
    document = json.loads(openapi_document())
    assert document["components"]["schemas"]["Error"]["properties"]["error"]["enum"] == sorted(PROBLEMS)


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_errors_base_sits_below_every_layer_and_the_clever_client_stays_below_the_web() -> None:
    assert {name for name in _imported_modules(APP_DIR / "errors.py") if name.startswith("app")} == set()
    for path in sorted((APP_DIR / "clever").rglob("*.py")):
        ours = {name for name in _imported_modules(path) if name == "app" or name.startswith("app.")}
        assert {name for name in ours if not name.startswith(("app.clever", "app.errors"))} == set(), path
