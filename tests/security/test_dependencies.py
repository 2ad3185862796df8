"""The dependency floor (SECURITY.md, requirement 35), and the audit's verdicts."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
# Package: the lowest version without a known advisory that concerns us.
FLOORS = {
    "starlette": "1.0.1",
    "authlib": "1.6.11",
    "aiohttp": "3.12.14",  # CVE-2025-53643 (GHSA-9548-qrrj-x5pj); httpx is now a test tool only
    "h11": "0.16.0",
    "redis": "4.5.4",
}


def _declared() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = (Requirement(line) for line in project["dependencies"])
    return {requirement.name.lower(): requirement for requirement in requirements}


def _audit_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "audit_dependencies", ROOT / "scripts" / "audit_dependencies.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("name", "floor"), sorted(FLOORS.items()))
def test_the_declared_lower_bound_is_at_or_above_the_floor(name: str, floor: str) -> None:
    requirement = _declared().get(name)
    assert requirement is not None, f"{name} must be a direct dependency so that its floor is enforced"
    bounds = [Version(spec.version) for spec in requirement.specifier if spec.operator in (">=", ">", "==")]
    assert bounds, f"{name} has no lower bound"
    assert max(bounds) >= Version(floor)
    assert not requirement.specifier.contains(_just_below(floor))


def _just_below(version: str) -> str:
    major, minor, patch = ((*Version(version).release, 0, 0))[:3]
    if patch:
        return f"{major}.{minor}.{patch - 1}"
    return f"{major}.{minor - 1}.99" if minor else f"{major - 1}.99.99"


@pytest.mark.parametrize(("name", "floor"), sorted(FLOORS.items()))
def test_the_installed_version_is_at_or_above_the_floor(name: str, floor: str) -> None:
    assert Version(metadata.version(name)) >= Version(floor)


def test_no_multipart_parser_is_installed() -> None:
    """The service has no form endpoint; python-multipart has had several DoS advisories."""
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.version("python-multipart")


def test_a_known_vulnerability_fails_the_audit() -> None:
    judge = _audit_script().judge
    report = {
        "dependencies": [
            {"name": "starlette", "version": "0.27.0", "vulns": [
                {"id": "GHSA-f96h-pmfr-66vw", "aliases": ["CVE-2024-47874"], "fix_versions": ["0.40.0"]}
            ]},
            {"name": "httpx", "version": "0.28.1", "vulns": []},
        ]
    }  # fmt: skip
    verdict = judge(report)
    assert verdict.exit_code == 1
    assert "starlette 0.27.0: GHSA-f96h-pmfr-66vw (CVE-2024-47874); fixed in 0.40.0" in verdict.message


def test_a_clean_audit_passes_and_unaudited_packages_are_named_not_failed() -> None:
    judge = _audit_script().judge
    report = {
        "dependencies": [
            {"name": "httpx", "version": "0.28.1", "vulns": []},
            {"name": "redis", "version": "8.1.0", "skip_reason": "Dependency not found on PyPI"},
            {"name": "clever-login", "skip_reason": "distribution marked as editable"},
        ]
    }
    clean = judge(report)
    assert clean.exit_code == 0
    assert "1 package(s) audited" in clean.message
    assert "1 package(s) could not be looked up" in clean.message
    assert "redis" in clean.message
    assert "clever-login" not in clean.message
    assert judge(report, require_coverage=True).exit_code == 2


def test_an_unreachable_service_is_a_clear_message_not_a_failure() -> None:
    judge = _audit_script().judge
    verdict = judge(None, error="ConnectionError: pypi.org")
    assert verdict.exit_code == 0
    assert verdict.message.startswith("dependency audit: NOTHING WAS AUDITED")
    assert "could not be reached" in verdict.message
    assert "ConnectionError" in verdict.message
    assert judge(None, require_coverage=True).exit_code == 2


def test_an_audit_that_looked_nothing_up_says_so_first() -> None:
    judge = _audit_script().judge
    report = {
        "dependencies": [
            {"name": "redis", "version": "8.1.0", "skip_reason": "Dependency not found on PyPI"},
            {"name": "aiohttp", "version": "3.13.2", "skip_reason": "Dependency not found on PyPI"},
            {"name": "clever-login", "skip_reason": "distribution marked as editable"},
        ]
    }
    verdict = judge(report)
    assert verdict.exit_code == 0
    assert verdict.message.startswith("dependency audit: NOTHING WAS AUDITED")
    assert "0 package(s) audited" in verdict.message
    assert "2 package(s) could not be looked up" in verdict.message
    assert judge(report, require_coverage=True).exit_code == 2
    partly = judge(
        {"dependencies": [{"name": "httpx", "version": "0.28.1", "vulns": []}, *report["dependencies"]]}
    )
    assert "NOTHING WAS AUDITED" not in partly.message
