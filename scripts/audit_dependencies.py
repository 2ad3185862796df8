"""Audit the installed dependencies for known vulnerabilities (`make audit`, run by `make test`).

Runs pip-audit against PyPI's vulnerability data (`-s pypi`: this project's CI reaches PyPI but not
OSV) over the virtualenv it is started from, and decides:

- a known vulnerability in any installed package: the audit fails (exit 1), listing each one;
- the service unreachable, or packages it could not look up (a private mirror, a version PyPI
  does not list): a clear warning naming how many went unaudited, but no failure, since that is
  not evidence of a vulnerability; `--require-coverage` turns it into a failure (exit 2);
- not one package audited (the usual case where PyPI's advisory lookups are not reachable, as on
  this project's own machines): a message that opens with `NOTHING WAS AUDITED`, so that a green
  `make test` is never read as a clean audit (README, "Dependencies").

    python scripts/audit_dependencies.py [--require-coverage]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TIMEOUT_SECONDS = 300
NOTHING_AUDITED = "dependency audit: NOTHING WAS AUDITED; known vulnerabilities were NOT checked"


@dataclass(frozen=True)
class Verdict:
    exit_code: int
    message: str


def judge(report: dict[str, Any] | None, *, require_coverage: bool = False, error: str = "") -> Verdict:
    """What a pip-audit JSON report (None when pip-audit could not produce one) means for CI."""
    if report is None:
        message = f"the vulnerability service could not be reached ({error or 'no report'})"
        return Verdict(2 if require_coverage else 0, f"{NOTHING_AUDITED}: {message}.")
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    unaudited = [d for d in dependencies if d.get("skip_reason") and "editable" not in d["skip_reason"]]
    audited = [d for d in dependencies if not d.get("skip_reason")]
    lines = []
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
            aliases = ", ".join(vuln.get("aliases") or [])
            lines.append(f"  {dep['name']} {dep['version']}: {vuln['id']} ({aliases}); fixed in {fixed}")
    summary = f"dependency audit: {len(audited)} package(s) audited, {len(vulnerable)} vulnerable"
    if unaudited:
        names = ", ".join(sorted(d["name"] for d in unaudited)[:10])
        more = "" if len(unaudited) <= 10 else f" and {len(unaudited) - 10} more"
        summary += (
            f"; WARNING: {len(unaudited)} package(s) could not be looked up at the vulnerability "
            f"service and were NOT audited ({names}{more})"
        )
    if vulnerable:
        return Verdict(1, "\n".join([summary, *lines]))
    if not audited:
        summary = f"{NOTHING_AUDITED}: {summary.removeprefix('dependency audit: ')}"
    if unaudited and require_coverage:
        return Verdict(2, summary)
    return Verdict(0, summary)


def run_pip_audit() -> tuple[dict[str, Any] | None, str]:
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "audit.json"
        command = [
            str(Path(sys.executable).with_name("pip-audit")),
            "--local",
            "--skip-editable",
            "--vulnerability-service", "pypi",
            "--progress-spinner", "off",
            "--format", "json",
            "--output", str(output),
        ]  # fmt: skip
        try:
            done = subprocess.run(  # noqa: S603  # our own fixed command line
                command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, type(exc).__name__
        if not output.exists() or not output.read_text():
            last = (done.stderr.strip().splitlines() or ["pip-audit exited with " + str(done.returncode)])[-1]
            return None, last[:200]
        return json.loads(output.read_text()), ""


def main(argv: list[str]) -> int:
    report, error = run_pip_audit()
    verdict = judge(report, require_coverage="--require-coverage" in argv, error=error)
    print(verdict.message)
    return verdict.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
