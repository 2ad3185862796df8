"""The Helm chart, checked without a cluster or a helm binary.

Helm's own lint and renderer come from helm-python-sdk (Helm's Go SDK as a C library); every
rendered object is validated against the Kubernetes OpenAPI schemas bundled by kubernetes-validate.
Kinds those schemas do not know (the Prometheus Operator's ServiceMonitor) are checked here by hand.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.settings import load_settings

helm = pytest.importorskip("helm_python", reason="helm-python-sdk is not installed")
kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate is not installed"
)

CHART = Path(__file__).resolve().parents[2] / "helm" / "clever-login"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
KUBE_VERSION = "1.30.0"
GRACEFUL_SHUTDOWN_SECONDS = 20  # app.web.serving.GRACEFUL_SHUTDOWN_SECONDS
CRD_KINDS = frozenset({"ServiceMonitor"})

Manifest = dict[str, Any]


def ci_values(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "ci" / f"{name}-values.yaml").read_text())
    return loaded


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


@functools.cache
def _render_cached(values_yaml: str) -> tuple[tuple[str, str], ...]:
    files: dict[str, str] = helm.Chart.load(str(CHART)).render(
        yaml.safe_load(values_yaml), name="rel", namespace="auth", is_install=True
    )
    return tuple(sorted(files.items()))


def render_files(values: dict[str, Any]) -> dict[str, str]:
    return dict(_render_cached(yaml.safe_dump(values, sort_keys=True)))


def render(values: dict[str, Any]) -> list[Manifest]:
    """Every object the chart renders with these values (NOTES.txt left out)."""
    objects: list[Manifest] = []
    for path, text in render_files(values).items():
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def by_kind(objects: list[Manifest], kind: str) -> list[Manifest]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[Manifest], kind: str, name: str = "rel-clever-login") -> Manifest:
    found = [o for o in by_kind(objects, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def server_container(objects: list[Manifest]) -> Manifest:
    container: Manifest = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    return container


def test_there_are_ci_variants() -> None:
    assert {p.name for p in CI_VALUES} >= {
        "minimal-values.yaml",
        "full-values.yaml",
        "inline-secrets-values.yaml",
    }


@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.name)
def test_helm_lint_strict_passes(values_file: Path) -> None:
    result = helm.lint(
        str(CHART), yaml.safe_load(values_file.read_text()), strict=True, kube_version=f"v{KUBE_VERSION}"
    )
    assert result["errors"] == []
    # Only the "icon is recommended" kind of note is acceptable.
    assert [m for m in result["messages"] if m["severity"] >= 2] == []


def test_helm_lint_refuses_the_defaults_which_lack_required_settings() -> None:
    errors = "\n".join(helm.lint(str(CHART), None, strict=True)["errors"])
    assert "/config/cleverClientId" in errors
    assert "/secrets/sessionSecret" in errors


@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.name)
def test_every_rendered_object_is_valid_kubernetes(values_file: Path) -> None:
    objects = render(yaml.safe_load(values_file.read_text()))
    assert objects
    for obj in objects:
        if obj["kind"] in CRD_KINDS:
            check_service_monitor(obj)
            continue
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)


def check_service_monitor(obj: Manifest) -> None:
    """The fields the Prometheus Operator needs; its CRD schema is not bundled."""
    assert obj["apiVersion"] == "monitoring.coreos.com/v1"
    assert obj["kind"] == "ServiceMonitor"
    spec = obj["spec"]
    assert set(spec) <= {"selector", "namespaceSelector", "endpoints"}
    assert spec["selector"]["matchLabels"]["app.kubernetes.io/component"] == "server"
    assert spec["namespaceSelector"] == {"matchNames": ["auth"]}
    (endpoint,) = spec["endpoints"]
    assert endpoint["port"] == "http"
    assert endpoint["path"] == "/metrics"
    assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout"}


def test_the_validator_does_catch_an_invalid_object() -> None:
    deployment = copy.deepcopy(one(render(ci_values("minimal")), "Deployment"))
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSION, strict=True)
    deployment["spec"]["replicas"] = 2
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProb"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSION, strict=True)


@pytest.mark.parametrize(
    ("override", "where"),
    [
        ({"replicaCount": "two"}, "/replicaCount"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"preStop": {"mode": "nap"}}, "/preStop/mode"),
        ({"config": {"cleverRedirectUri": "http://login.example.org/cb"}}, "/config/cleverRedirectUri"),
        ({"replicas": 2}, "replicas"),
        ({"secrets": {"existingSecret": ""}}, "/secrets/sessionSecret"),
    ],
)
def test_the_schema_refuses_bad_values(override: dict[str, Any], where: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=where):
        render(merged(ci_values("minimal"), override))


def test_the_grace_period_must_cover_pre_stop_and_shutdown() -> None:
    with pytest.raises(helm.HelmRenderError, match="terminationGracePeriodSeconds"):
        render(merged(ci_values("minimal"), {"terminationGracePeriodSeconds": 25}))


@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.name)
def test_grace_period_exceeds_pre_stop_plus_graceful_shutdown(values_file: Path) -> None:
    objects = render(yaml.safe_load(values_file.read_text()))
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    pre_stop = container["lifecycle"]["preStop"]
    if "sleep" in pre_stop:
        sleep = pre_stop["sleep"]["seconds"]
    else:
        command = pre_stop["exec"]["command"]
        assert command[0] == "sleep"
        sleep = int(command[1])
    args = container["args"]
    shutdown = int(args[args.index("--timeout-graceful-shutdown") + 1])
    assert shutdown == GRACEFUL_SHUTDOWN_SECONDS
    assert pod["terminationGracePeriodSeconds"] > sleep + shutdown


def test_pre_stop_mode_exec_runs_sleep_in_the_container() -> None:
    container = server_container(render(merged(ci_values("minimal"), {"preStop": {"mode": "exec"}})))
    assert container["lifecycle"]["preStop"] == {"exec": {"command": ["sleep", "10"]}}


def test_the_server_container() -> None:
    container = server_container(render(ci_values("minimal")))
    all_interfaces = "0.0.0.0"  # noqa: S104  # the pod's own network namespace
    assert container["args"][:5] == ["serve", "--host", all_interfaces, "--port", "8000"]
    assert container["image"] == "ghcr.io/example/clever-login:0.1.0"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]  # noqa: S108  # an emptyDir
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]


def test_security_context() -> None:
    objects = render(ci_values("minimal"))
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    ctx = pod["containers"][0]["securityContext"]
    assert ctx["runAsNonRoot"] is True
    assert ctx["runAsUser"] == 10001
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]
    assert one(objects, "ServiceAccount")["automountServiceAccountToken"] is False


def secret_refs(container: Manifest) -> dict[str, tuple[str, str]]:
    return {
        e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def test_existing_secret_renders_no_secret_and_is_referenced() -> None:
    objects = render(ci_values("minimal"))
    assert by_kind(objects, "Secret") == []
    refs = secret_refs(server_container(objects))
    assert refs == {
        "CLEVER_CLIENT_SECRET": ("clever-login-secrets", "CLEVER_CLIENT_SECRET"),
        "SESSION_SECRET": ("clever-login-secrets", "SESSION_SECRET"),
        "REDIS_URL": ("clever-login-secrets", "REDIS_URL"),
        "SERVICE_CLIENTS": ("clever-login-secrets", "SERVICE_CLIENTS"),
        "SESSION_SECRET_PREVIOUS": ("clever-login-secrets", "SESSION_SECRET_PREVIOUS"),
    }
    annotations = one(objects, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/config" in annotations
    assert "checksum/secret" not in annotations


def test_existing_secret_key_names_can_be_changed() -> None:
    refs = secret_refs(server_container(render(ci_values("full"))))
    assert refs["REDIS_URL"] == ("clever-login-secrets", "redis-url")


def test_inline_secrets_render_a_secret_with_no_secret_in_the_config_map() -> None:
    values = ci_values("inline-secrets")
    objects = render(values)
    secret = one(objects, "Secret")
    assert set(secret["data"]) == {
        "CLEVER_CLIENT_SECRET",
        "SESSION_SECRET",
        "REDIS_URL",
        "SERVICE_CLIENTS",
        "SESSION_SECRET_PREVIOUS",
    }
    assert set(secret_refs(server_container(objects)).values()) == {
        ("rel-clever-login", key) for key in secret["data"]
    }
    config = one(objects, "ConfigMap")["data"]
    secrets = values["secrets"]
    for value in (secrets["sessionSecret"], secrets["sessionSecretPrevious"], secrets["redisUrl"]):
        assert all(value not in v for v in config.values())
    assert server_container(objects)["image"].endswith("@" + values["image"]["digest"])


def pod_annotations(values: dict[str, Any]) -> dict[str, str]:
    annotations: dict[str, str] = one(render(values), "Deployment")["spec"]["template"]["metadata"][
        "annotations"
    ]
    return annotations


def test_checksums_follow_the_config_map_and_the_secret() -> None:
    base = ci_values("inline-secrets")
    before = pod_annotations(base)
    after_config = pod_annotations(merged(base, {"config": {"allowedDistricts": ["d1"]}}))
    assert after_config["checksum/config"] != before["checksum/config"]
    assert after_config["checksum/secret"] == before["checksum/secret"]
    after_secret = pod_annotations(
        merged(base, {"secrets": {"sessionSecret": "Zq8Lw3Rt7Yp2Mx6Vb9Nc4Kd1Fg5Hj0-rotated"}})
    )
    assert after_secret["checksum/secret"] != before["checksum/secret"]
    assert after_secret["checksum/config"] == before["checksum/config"]


def test_config_map_holds_the_settings() -> None:
    data = one(render(ci_values("full")), "ConfigMap")["data"]
    assert data["CLEVER_CLIENT_ID"] == "ci-client-id"
    assert data["FRONTEND_URL"] == "https://app.example.org/"
    assert data["ALLOWED_RETURN_TO"] == "https://app.example.org,https://teacher.example.org"
    assert data["FORWARDED_ALLOW_IPS"] == "10.0.0.0/8"
    assert data["REDIS_KEY_PREFIX"] == "prod:"
    assert data["COOKIE_SECURE"] == "true"
    assert data["ALLOWED_ROLES"] == "teacher,staff,district_admin"
    assert data["CLEVER_TIMEOUT"] == "8"
    assert all(isinstance(v, str) for v in data.values())
    assert not {"CLEVER_CLIENT_SECRET", "SESSION_SECRET", "REDIS_URL", "SERVICE_CLIENTS"} & set(data)


@pytest.mark.parametrize("variant", ["minimal", "full", "inline-secrets"])
def test_the_app_accepts_every_setting_the_chart_renders(variant: str) -> None:
    data = one(render(ci_values(variant)), "ConfigMap")["data"]
    secrets = {
        "CLEVER_CLIENT_SECRET": "ci-only-clever-client-value",
        "SESSION_SECRET": "ci-only-Zq8Lw3Rt7Yp2Mx6Vb9Nc4Kd1Fg5Hj0",
        "REDIS_URL": "redis://redis.data.svc:6379/0",
    }
    settings = load_settings({**data, **secrets})  # raises SettingsError naming any it refuses
    assert settings.clever_client_id == data["CLEVER_CLIENT_ID"]
    assert settings.events_poll_interval == float(data["EVENTS_POLL_INTERVAL"])
    assert settings.clever_timeout == int(data["CLEVER_TIMEOUT"])


OPTIONAL_KINDS = (
    "Ingress",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "ServiceMonitor",
)


def test_optional_objects_appear_only_when_enabled() -> None:
    minimal = {o["kind"] for o in render(ci_values("minimal"))}
    full = {o["kind"] for o in render(ci_values("full"))}
    assert not minimal & set(OPTIONAL_KINDS)
    assert full >= set(OPTIONAL_KINDS)
    assert minimal == {"ConfigMap", "Deployment", "Service", "ServiceAccount"}


def test_replicas_are_left_to_the_hpa_when_autoscaling() -> None:
    assert one(render(ci_values("minimal")), "Deployment")["spec"]["replicas"] == 2
    objects = render(ci_values("full"))
    assert "replicas" not in one(objects, "Deployment")["spec"]
    hpa = one(objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "rel-clever-login"
    assert hpa["spec"]["minReplicas"] == 3


def test_network_policy_allows_only_what_the_app_needs() -> None:
    policy = one(render(ci_values("full")), "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    ingress_ports = {p["port"] for rule in policy["ingress"] for p in rule["ports"]}
    assert ingress_ports == {"http"}
    sources = [peer for rule in policy["ingress"] for peer in rule["from"]]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}} in sources
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}} in sources
    egress_ports = sorted((p["port"], p["protocol"]) for rule in policy["egress"] for p in rule["ports"])
    assert egress_ports == [(53, "TCP"), (53, "UDP"), (443, "TCP"), (6380, "TCP"), (26379, "TCP")]


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://:pw@sentinel-0.redis:26379,sentinel-1.redis:26379/mymaster",
        "rediss+cluster://:pw@redis-cluster.data:6379",
    ],
)
def test_the_schema_takes_the_sentinel_and_cluster_url_forms(url: str) -> None:
    secret = one(render(merged(ci_values("inline-secrets"), {"secrets": {"redisUrl": url}})), "Secret")
    assert secret["data"]["REDIS_URL"]


PUBLIC_ROUTES = [
    ("/auth/login", "Exact"),
    ("/auth/callback", "Exact"),
    ("/auth/session", "Prefix"),
    ("/auth/logout", "Exact"),
    ("/auth/verify", "Exact"),
]
SERVICE_ROUTES = [("/auth/introspect", "Exact"), ("/auth/users", "Prefix"), ("/auth/districts", "Prefix")]


def _published(values: dict[str, Any]) -> list[tuple[str, str]]:
    ingress = one(render(values), "Ingress")["spec"]
    return [(p["path"], p["pathType"]) for rule in ingress["rules"] for p in rule["http"]["paths"]]


def test_ingress_publishes_only_the_browser_facing_auth_api() -> None:
    assert _published(ci_values("full")) == PUBLIC_ROUTES
    ingress = one(render(ci_values("full")), "Ingress")["spec"]
    assert ingress["tls"] == [{"hosts": ["login.example.org"], "secretName": "login-example-org-tls"}]


def test_the_service_client_api_is_published_only_when_asked() -> None:
    asked = merged(ci_values("full"), {"ingress": {"publishServiceEndpoints": True}})
    assert _published(asked) == PUBLIC_ROUTES + SERVICE_ROUTES
    own = {"ingress": {"hosts": [{"host": "login.example.org", "paths": [{"path": "/auth"}]}]}}
    assert _published(merged(asked, own)) == [("/auth", "Prefix")]


@pytest.mark.parametrize("path", ["/", "/auth", "/auth/", "/auth/introspect", "/auth/users"])
def test_a_path_that_would_publish_the_service_client_api_is_refused(path: str) -> None:
    values = merged(
        ci_values("full"), {"ingress": {"hosts": [{"host": "login.example.org", "paths": [{"path": path}]}]}}
    )
    with pytest.raises(helm.HelmRenderError, match="publishServiceEndpoints"):
        render(values)


def test_events_worker_is_off_by_default_and_valid_when_enabled() -> None:
    assert len(by_kind(render(ci_values("minimal")), "Deployment")) == 1
    objects = render(merged(ci_values("minimal"), {"events": {"enabled": True}}))
    worker = one(objects, "Deployment", "rel-clever-login-events")
    kubernetes_validate.validate(worker, KUBE_VERSION, strict=True)
    assert worker["spec"]["replicas"] == 1
    assert worker["spec"]["strategy"] == {"type": "Recreate"}
    container = worker["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["events", "--metrics-host=0.0.0.0", "--metrics-port=9102"]
    assert container["ports"] == [{"name": "http", "containerPort": 9102, "protocol": "TCP"}]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    # The Service must not send traffic to the worker.
    service_selector = one(objects, "Service")["spec"]["selector"]
    assert (
        worker["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        != (service_selector["app.kubernetes.io/component"])
    )


def test_notes_warn_about_forwarded_allow_ips() -> None:
    notes = next(t for p, t in render_files(ci_values("minimal")).items() if p.endswith("NOTES.txt"))
    assert "forwardedAllowIps" in notes
    full_notes = next(t for p, t in render_files(ci_values("full")).items() if p.endswith("NOTES.txt"))
    assert "forwardedAllowIps" not in full_notes
