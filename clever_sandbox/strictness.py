"""What a stricter sandbox leaves out: the parts an app's scopes do not reach, and the fields a
real district does not send (`SandboxConfig`, "Strictness"; README, "Sandbox modes").

Clever documents that sensitive student fields need extra scopes and that a token outside its
scopes is refused ("Resource not in token's scopes"); it publishes neither the status of that
refusal nor a name for the sensitive scope, so those are the sandbox's own choices.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from clever_sandbox.config import RESOURCES_SCOPE, SENSITIVE_SCOPE, SandboxConfig
from clever_sandbox.errors import api_error, html_not_found

Record = dict[str, Any]

# The student fields Clever calls sensitive (ell, frl and iep status, home language) and the
# demographics v3.1 added beside them.
SENSITIVE_STUDENT_FIELDS = frozenset(
    {
        "disability",
        "ell_status",
        "frl_status",
        "gifted_status",
        "home_language",
        "home_language_code",
        "iep_status",
        "section_504_status",
    }
)
MISSING_SCOPE_MESSAGE = "Resource not in token's scopes"
# What a user record always holds: the fields Clever's docs guarantee, the ones its definitions
# validate (`x-validation`) and never allow to be null, and `name` with its first and last.
_GUARANTEED_USER_FIELDS = ("id", "district", "created", "last_modified")
# The same for a student role (v3.0 and v3.1 alike); every other field of it may be left out.
_GUARANTEED_STUDENT_FIELDS = ("created", "enrollments", "last_modified", "legacy_id", "school", "schools")


def hidden_student_fields(config: SandboxConfig) -> frozenset[str]:
    """The student fields the app's scopes do not reach."""
    return frozenset() if SENSITIVE_SCOPE in config.scopes else SENSITIVE_STUDENT_FIELDS


def resources_granted(config: SandboxConfig) -> bool:
    return RESOURCES_SCOPE in config.scopes


def reads_resources(path: str) -> bool:
    """Whether a Data API path (below the version) answers resources: `/resources...` or a
    record's `/resources` list."""
    return path.startswith("/resources") or path.endswith("/resources")


def missing_scope(config: SandboxConfig) -> Response:
    """Clever's refusal of a path outside the token's scopes, as `config.scope_error` shapes it."""
    if config.scope_error == "html":
        return html_not_found()
    return api_error(403, MISSING_SCOPE_MESSAGE)


def sparse_user(user: Record) -> Record:
    """A student's user record with only the guaranteed fields, in it and in its student role;
    anyone else's unchanged. Never changes `user`."""
    roles = user.get("roles") or {}
    if "student" not in roles:
        return user
    sparse: Record = {key: user[key] for key in _GUARANTEED_USER_FIELDS if key in user}
    name = user.get("name") or {}
    sparse["name"] = {key: name[key] for key in ("first", "last") if key in name}
    student = roles["student"]
    sparse["roles"] = {"student": {key: student[key] for key in _GUARANTEED_STUDENT_FIELDS if key in student}}
    return sparse
