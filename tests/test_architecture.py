"""What each package may import, as docs/architecture.md's table states it.

Every module under app/ and clever_sandbox/ is parsed (nothing is imported), and every import of
`app` or `clever_sandbox` it holds is collected: `import app.x`, `from app.x import y`, relative
imports, and those inside functions or under `TYPE_CHECKING`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# docs/architecture.md, "The packages, bottom to top": a package may import the rows below it,
# never its own row's other packages, never a row above. The top row may import anything.
LAYERS: list[tuple[str, ...]] = [
    ("app", "app.errors"),
    ("app.crypto", "app.clever", "app.logs", "app.redis_client", "app.serving"),
    ("app.redis_lock", "app.redis_budget"),
    ("app.settings",),
    ("app.login",),
    ("app.roster",),
    ("app.sessions",),
    ("app.core",),
    ("app.web", "app.events"),
    ("app.cli", "app.dev"),
]
TOP = LAYERS[-1]
# Named exceptions to the order, each stated in the table.
UPWARD_ALLOWED = {("app.settings", "app.roster.fieldpolicy")}  # pure: STUDENT_FIELDS' parser
FORBIDDEN = {("app.roster", "app.login")}
# From a higher package, only these of its modules.
ONLY = {("app.sessions", "app.roster"): ("app.roster.principal",)}  # the Principal's type
# Where the tree breaks the table today (docs/architecture.md says so too). Each entry must still
# be true; remove it when the import goes.
KNOWN_BREAKS: set[tuple[str, str]] = set()
DEV_ONLY = ("app.dev", "clever_sandbox")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path) -> Iterator[str]:
    """Every module `path` imports, absolute, relative ones resolved."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            for alias in node.names:
                # `from app.roster import principal` imports the module app.roster.principal.
                yield f"{module}.{alias.name}" if _is_module(f"{module}.{alias.name}") else module


def _ours(module: str) -> bool:
    return module in ("app", "clever_sandbox") or module.startswith(("app.", "clever_sandbox."))


IMPORTS: list[tuple[str, str]] = sorted(
    {
        (_module_name(path), imported)
        for tree in ("app", "clever_sandbox")
        for path in sorted((ROOT / tree).rglob("*.py"))
        for imported in _imports(path)
        if _ours(imported)
    }
)


def package_of(module: str) -> str:
    """The row of the table a module belongs to: `app.web.routes.login` is `app.web`."""
    if module == "clever_sandbox" or module.startswith("clever_sandbox."):
        return "clever_sandbox"
    return ".".join(module.split(".")[:2])


def rank(package: str) -> int:
    for index, row in enumerate(LAYERS):
        if package in row:
            return index
    raise AssertionError(f"{package} is in no row of docs/architecture.md's table")


SANDBOX = "clever_sandbox imports nothing from app"
DEV = "only app.cli and app.dev import app.dev or clever_sandbox"
SIBLINGS = "app.web and app.events never import each other"
LOWEST = "the lowest rows import nothing higher"
ORDER = "lower layers never import higher ones"
RULES = (SANDBOX, DEV, SIBLINGS, LOWEST, ORDER)


def _breaks(importer: str, imported: str) -> str | None:
    """The rule this import breaks, or None."""
    source, target = package_of(importer), package_of(imported)
    if source == target:
        return None
    if target in DEV_ONLY and source not in ("app.cli", "app.dev"):
        return DEV
    if source == "clever_sandbox":
        return SANDBOX
    if target == "clever_sandbox" or source in TOP:
        return None
    if {source, target} == {"app.web", "app.events"}:
        return SIBLINGS
    if (source, target) in FORBIDDEN:
        return ORDER
    if any(imported.startswith(allowed) for s, allowed in UPWARD_ALLOWED if s == source):
        return None
    only = ONLY.get((source, target))
    if only is not None and not any(imported == m or imported.startswith(m + ".") for m in only):
        return ORDER
    if rank(target) >= rank(source):
        return LOWEST if rank(source) <= 1 else ORDER
    return None


def test_the_imports_were_found() -> None:
    importers = {package_of(importer) for importer, _ in IMPORTS}
    assert {"app.web", "app.events", "app.core", "app.cli", "app.dev"} <= importers
    # One inside a function: the sandbox's lazy `create_sandbox_app`.
    assert ("clever_sandbox", "clever_sandbox.app") in IMPORTS


def test_every_package_is_in_the_table() -> None:
    packages = {package_of(_module_name(path)) for path in (ROOT / "app").rglob("*.py")}
    for package in sorted(packages):
        rank(package)
    assert documented_rows() == [tuple(p for p in row if p != "app") for row in LAYERS]


def documented_rows() -> list[tuple[str, ...]]:
    """The first column of docs/architecture.md's table, row by row."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    table = text.split("## The packages, bottom to top", 1)[1].split("\n\n|", 1)[1]
    rows = []
    for line in ("|" + table).split("\n\n", 1)[0].splitlines()[2:]:
        first = line.split("|")[1]
        rows.append(tuple(name.strip().strip("`") for name in first.split(",")))
    return rows


@pytest.mark.parametrize("rule", RULES)
def test_imports_follow_the_table(rule: str) -> None:
    broken = [
        f"{importer} imports {imported}"
        for importer, imported in IMPORTS
        if _breaks(importer, imported) == rule and (importer, imported) not in KNOWN_BREAKS
    ]
    assert broken == []


def test_the_known_breaks_are_still_there() -> None:
    """When one of them is fixed, take it off the list (and out of docs/architecture.md)."""
    for importer, imported in sorted(KNOWN_BREAKS):
        assert (importer, imported) in IMPORTS, (importer, imported)
        assert _breaks(importer, imported) is not None, (importer, imported)


@pytest.mark.parametrize(
    ("importer", "imported", "broken"),
    [
        ("clever_sandbox.oauth", "app.web.problems", True),
        ("app.crypto.ticket", "app.settings", True),
        ("app.clever.client", "app.errors", False),
        ("app.web.factory", "app.events.worker", True),
        ("app.events.worker", "app.web.services", True),
        ("app.events.worker", "app.core", False),
        ("app.web.factory", "app.dev.stack", True),
        ("app.core", "clever_sandbox.app", True),
        ("app.cli", "clever_sandbox.config", False),
        ("app.dev.stack", "app.web.factory", False),
        ("app.settings", "app.roster.fieldpolicy", False),
        ("app.settings", "app.roster.principal", True),
        ("app.roster.fetch", "app.login.identity", True),
        ("app.sessions.store", "app.roster.principal", False),
        ("app.sessions.store", "app.roster.fetch", True),
        ("app.login.pending", "app.sessions.store", True),
        ("app.settings", "app.login.pending", True),
        ("app.serving.http_protocol", "app.web.problems", True),
        ("app.logs", "app.redis_client", True),
    ],
)
def test_the_rules_tell_a_break_from_an_allowed_import(importer: str, imported: str, broken: bool) -> None:
    assert (_breaks(importer, imported) is not None) is broken
