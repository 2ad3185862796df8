"""The chart through a real `helm` binary (installed by `make`, see scripts/fetch_helm.py): strict
lint and `helm template` of every ci variant, the output valid Kubernetes, and identical to what
the Helm SDK renders in test_chart.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.test_chart import CHART, CI_VALUES, KUBE_VERSION, check_service_monitor, render

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate is not installed"
)

HELM = Path(sys.executable).parent / "helm"
pytestmark = pytest.mark.skipif(not HELM.exists(), reason="no helm binary in the venv (run make)")


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own arguments
        [str(HELM), *args], capture_output=True, text=True, timeout=60, check=False
    )


def template(values_file: Path) -> list[dict[str, Any]]:
    done = helm("template", "rel", str(CHART), "--namespace", "auth", "--kube-version", KUBE_VERSION,
                "--values", str(values_file))  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def test_it_is_a_real_helm_4() -> None:
    assert helm("version", "--short").stdout.startswith("v4.")


@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda path: path.stem)
def test_helm_lint_strict(values_file: Path) -> None:
    done = helm("lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION, "--values", str(values_file))
    assert done.returncode == 0, done.stdout + done.stderr


def test_helm_lint_strict_passes_on_the_defaults() -> None:
    done = helm("lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[WARNING]" not in done.stdout
    assert "[INFO]" not in done.stdout  # not even "icon is recommended"


def test_helm_template_on_the_defaults_names_what_is_missing() -> None:
    done = helm("template", "rel", str(CHART), "--kube-version", KUBE_VERSION)
    assert done.returncode != 0
    assert (
        "Missing settings: config.cleverClientId, config.cleverRedirectUri, config.frontendUrl."
        in done.stderr
    )
    assert "Missing credentials: set secrets.existingSecret to the name of a Secret" in done.stderr


def test_the_full_variant_renders_the_events_worker() -> None:
    objects = template(CHART / "ci" / "full-values.yaml")
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert {
        ("Deployment", "rel-clever-login-events"),
        ("Service", "rel-clever-login-events"),
        ("ServiceMonitor", "rel-clever-login-events"),
    } <= names


@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda path: path.stem)
def test_helm_template_is_valid_kubernetes_and_matches_the_sdk(values_file: Path) -> None:
    objects = template(values_file)
    assert objects
    for obj in objects:
        if obj["kind"] == "ServiceMonitor":
            check_service_monitor(obj)
        else:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)

    def canonical(items: list[dict[str, Any]]) -> list[str]:
        return sorted(json.dumps(item, sort_keys=True) for item in items)

    assert canonical(objects) == canonical(render(yaml.safe_load(values_file.read_text())))


def test_helm_refuses_values_against_the_schema(tmp_path: Path) -> None:
    bad = tmp_path / "bad-values.yaml"
    values = yaml.safe_load(CI_VALUES[0].read_text())
    bad.write_text(yaml.safe_dump({**values, "replicaCount": "two"}))
    done = helm("template", "rel", str(CHART), "--values", str(bad))
    assert done.returncode != 0
    assert "replicaCount" in done.stderr
