"""The Helm chart, checked without a cluster or a helm binary.

Helm's own lint and renderer come from helm-python-sdk (Helm's Go SDK as a C library); every
rendered object is validated against the Kubernetes OpenAPI schemas bundled by kubernetes-validate.
Kinds those schemas do not know (the Prometheus Operator's ServiceMonitor) are checked here by hand.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import re
from collections.abc import Iterator
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
GRACEFUL_SHUTDOWN_SECONDS = 20  # app.serving.server.GRACEFUL_SHUTDOWN_SECONDS
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


def test_helm_lint_strict_passes_on_the_defaults() -> None:
    result = helm.lint(str(CHART), None, strict=True, kube_version=f"v{KUBE_VERSION}")
    assert result["errors"] == []
    assert result["messages"] == []


def test_installing_without_credentials_names_existing_secret() -> None:
    with pytest.raises(helm.HelmRenderError) as defaults:
        render({})
    message = str(defaults.value)
    assert "Missing settings: config.cleverClientId, config.cleverRedirectUri, config.frontendUrl." in message
    assert "set secrets.existingSecret to the name of a Secret holding the keys" in message
    assert "(missing: secrets.cleverClientSecret, secrets.sessionSecret, secrets.redisUrl)" in message

    partial = merged(
        ci_values("minimal"), {"secrets": {"existingSecret": "", "redisUrl": "redis://r:6379/0"}}
    )
    with pytest.raises(helm.HelmRenderError, match=r"secrets\.existingSecret") as credentials:
        render(partial)
    assert "Missing settings" not in str(credentials.value)
    assert "(missing: secrets.cleverClientSecret, secrets.sessionSecret)" in str(credentials.value)


def test_a_missing_setting_is_named_even_with_the_secret() -> None:
    values = merged(ci_values("minimal"), {"config": {"frontendUrl": ""}})
    with pytest.raises(helm.HelmRenderError, match=r"Missing settings: config\.frontendUrl\.") as error:
        render(values)
    assert "credentials" not in str(error.value)


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
    assert spec["selector"]["matchLabels"]["app.kubernetes.io/component"] in {"server", "events"}
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
        ({"secrets": {"existingSecret": "", "sessionSecret": "too-short"}}, "/secrets/sessionSecret"),
        ({"secrets": {"existingSecret": "", "redisUrl": "http://redis:6379"}}, "/secrets/redisUrl"),
        ({"podDisruptionBudget": {"minAvailable": "half"}}, "/podDisruptionBudget/minAvailable"),
        ({"autoscaling": {"targetMemoryUtilizationPercentage": 0}}, "/autoscaling/targetMemoryUtilization"),
        ({"autoscaling": {"behavior": {"scaleSideways": {}}}}, "/autoscaling/behavior"),
        ({"networkPolicy": {"extraEgress": {"to": []}}}, "/networkPolicy/extraEgress"),
        ({"extraVolumeMounts": [{"name": "ca"}]}, "/extraVolumeMounts"),
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
    assert settings.roster_max_events_lag == int(data["ROSTER_MAX_EVENTS_LAG"])
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
    # 3128: the egress proxy of networkPolicy.extraEgress.
    assert egress_ports == [
        (53, "TCP"),
        (53, "UDP"),
        (443, "TCP"),
        (3128, "TCP"),
        (6380, "TCP"),
        (26379, "TCP"),
    ]


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


def notes(values: dict[str, Any]) -> str:
    return next(t for p, t in render_files(values).items() if p.endswith("NOTES.txt"))


def test_notes_name_the_events_worker_and_both_deployments() -> None:
    full = notes(ci_values("full"))
    assert "does not exist" not in full
    assert "The events worker runs as rel-clever-login-events" in full
    assert "rollout restart deployment/rel-clever-login deployment/rel-clever-login-events" in full
    assert "rollout status deployment/rel-clever-login-events" in full
    minimal = notes(ci_values("minimal"))
    assert "events" not in minimal
    assert "rollout restart deployment/rel-clever-login\n" in minimal


def test_notes_warn_about_the_placeholder_image() -> None:
    assert 'docs/deploy.md, "Building and pushing the image"' in notes(ci_values("minimal"))
    assert "placeholder" not in notes(ci_values("full"))


def pod_spec(objects: list[Manifest], name: str) -> Manifest:
    spec: Manifest = one(objects, "Deployment", name)["spec"]["template"]["spec"]
    return spec


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def test_the_full_variant_switches_everything_on() -> None:
    objects = render(ci_values("full"))
    kinds = sorted(o["kind"] for o in objects)
    assert kinds.count("Deployment") == 2
    assert kinds.count("Service") == 2
    assert kinds.count("ServiceMonitor") == 2
    assert set(kinds) >= set(OPTIONAL_KINDS)


def test_the_events_worker_is_scraped() -> None:
    objects = render(ci_values("full"))
    worker = one(objects, "Deployment", "rel-clever-login-events")
    worker_labels = worker["spec"]["template"]["metadata"]["labels"]
    (port,) = worker["spec"]["template"]["spec"]["containers"][0]["ports"]

    service = one(objects, "Service", "rel-clever-login-events")
    kubernetes_validate.validate(service, KUBE_VERSION, strict=True)
    assert service["spec"]["clusterIP"] == "None"  # for Prometheus only, no traffic
    assert selects(service["spec"]["selector"], worker_labels)
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] == port["name"]
    assert service_port["port"] == port["containerPort"] == 9102

    services = by_kind(objects, "Service")
    for monitor_name, service_name in [
        ("rel-clever-login-events", "rel-clever-login-events"),
        ("rel-clever-login", "rel-clever-login"),
    ]:
        monitor = one(objects, "ServiceMonitor", monitor_name)
        check_service_monitor(monitor)
        assert monitor["metadata"]["labels"]["release"] == "prometheus"
        selected = [
            s
            for s in services
            if selects(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
        ]
        assert [s["metadata"]["name"] for s in selected] == [service_name]
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["port"] in {p["name"] for p in selected[0]["spec"]["ports"]}

    # The worker's own NetworkPolicy lets the monitoring namespace, and nothing else, in to its port.
    policies = {p["metadata"]["name"]: p["spec"] for p in by_kind(objects, "NetworkPolicy")}
    assert not selects(policies["rel-clever-login"]["podSelector"]["matchLabels"], worker_labels)
    policy = policies["rel-clever-login-events"]
    assert selects(policy["podSelector"]["matchLabels"], worker_labels)
    monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    assert policy["ingress"] == [{"from": [monitoring], "ports": [{"port": port["name"], "protocol": "TCP"}]}]
    assert policy["egress"] == policies["rel-clever-login"]["egress"]


def test_unscraped_the_worker_takes_no_traffic_at_all() -> None:
    values = merged(ci_values("full"), {"serviceMonitor": {"enabled": False}})
    policy = one(render(values), "NetworkPolicy", "rel-clever-login-events")
    assert policy["spec"]["ingress"] == []
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]


def test_without_the_worker_there_is_one_service_monitor() -> None:
    objects = render(merged(ci_values("full"), {"events": {"enabled": False}}))
    assert [m["metadata"]["name"] for m in by_kind(objects, "ServiceMonitor")] == ["rel-clever-login"]
    assert [s["metadata"]["name"] for s in by_kind(objects, "Service")] == ["rel-clever-login"]


@pytest.mark.parametrize("deployment", ["rel-clever-login", "rel-clever-login-events"])
def test_extra_volumes_are_mounted_in_both_deployments(deployment: str) -> None:
    pod = pod_spec(render(ci_values("full")), deployment)
    assert pod["volumes"] == [
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        {"name": "redis-ca", "configMap": {"name": "redis-ca"}},
    ]
    assert pod["containers"][0]["volumeMounts"] == [
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108  # an emptyDir
        {"name": "redis-ca", "mountPath": "/etc/clever-login/redis-ca", "readOnly": True},
    ]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["HTTPS_PROXY"] == "http://egress-proxy.proxy.svc:3128"


def test_extra_egress_is_appended_to_the_network_policy() -> None:
    values = ci_values("full")
    egress = one(render(values), "NetworkPolicy")["spec"]["egress"]
    assert egress[-1] == values["networkPolicy"]["extraEgress"][0]
    assert len(egress) == 4  # DNS, Redis, HTTPS, the proxy
    default = one(render(merged(ci_values("minimal"), {"networkPolicy": {"enabled": True}})), "NetworkPolicy")
    assert len(default["spec"]["egress"]) == 3


def spread(objects: list[Manifest], deployment: str) -> list[Manifest]:
    constraints: list[Manifest] = pod_spec(objects, deployment).get("topologySpreadConstraints", [])
    return constraints


def test_pods_are_spread_over_nodes_and_zones_by_default() -> None:
    objects = render(merged(ci_values("minimal"), {"events": {"enabled": True}}))
    for deployment, component in [("rel-clever-login", "server"), ("rel-clever-login-events", "events")]:
        constraints = spread(objects, deployment)
        assert [c["topologyKey"] for c in constraints] == [
            "kubernetes.io/hostname",
            "topology.kubernetes.io/zone",
        ]
        labels = one(objects, "Deployment", deployment)["spec"]["selector"]["matchLabels"]
        assert labels["app.kubernetes.io/component"] == component
        for constraint in constraints:
            assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"  # never leaves a pod pending
            assert constraint["labelSelector"] == {"matchLabels": labels}
            assert constraint["matchLabelKeys"] == ["pod-template-hash"]
    assert (
        spread(
            render(merged(ci_values("minimal"), {"topologySpread": {"enabled": False}})), "rel-clever-login"
        )
        == []
    )


def test_given_spread_constraints_replace_the_default_and_get_each_deployments_labels() -> None:
    objects = render(ci_values("full"))
    for deployment in ("rel-clever-login", "rel-clever-login-events"):
        labels = one(objects, "Deployment", deployment)["spec"]["selector"]["matchLabels"]
        constraints = spread(objects, deployment)
        assert [(c["topologyKey"], c["whenUnsatisfiable"]) for c in constraints] == [
            ("topology.kubernetes.io/zone", "DoNotSchedule"),
            ("kubernetes.io/hostname", "ScheduleAnyway"),
        ]
        assert all(c["labelSelector"] == {"matchLabels": labels} for c in constraints)
    explicit = {"matchLabels": {"tier": "auth"}}
    given = [
        {
            "maxSkew": 2,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": explicit,
        }
    ]
    (constraint,) = spread(
        render(merged(ci_values("minimal"), {"topologySpreadConstraints": given})), "rel-clever-login"
    )
    assert constraint["labelSelector"] == explicit


def pdb_spec(override: dict[str, Any]) -> Manifest:
    values = merged(ci_values("minimal"), {"podDisruptionBudget": {"enabled": True, **override}})
    spec: Manifest = one(render(values), "PodDisruptionBudget")["spec"]
    return spec


def test_pdb_min_available_wins_without_nulling_max_unavailable() -> None:
    assert pdb_spec({})["maxUnavailable"] == 1
    assert "minAvailable" not in pdb_spec({})
    spec = pdb_spec({"minAvailable": 1})
    assert spec["minAvailable"] == 1
    assert "maxUnavailable" not in spec
    assert pdb_spec({"minAvailable": "50%"})["minAvailable"] == "50%"
    assert pdb_spec({"maxUnavailable": "25%"})["maxUnavailable"] == "25%"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"podDisruptionBudget": {"minAvailable": 2}},
            r"minAvailable \(2\) must be below the replica count \(2, replicaCount\)",
        ),
        (
            {"podDisruptionBudget": {"minAvailable": 3}, "autoscaling": {"enabled": True, "minReplicas": 3}},
            r"\(3, autoscaling.minReplicas\)",
        ),
    ],
)
def test_pdb_refuses_a_min_available_that_blocks_every_drain(override: dict[str, Any], message: str) -> None:
    values = merged(ci_values("minimal"), merged({"podDisruptionBudget": {"enabled": True}}, override))
    with pytest.raises(helm.HelmRenderError, match=message):
        render(values)


def hpa_spec(override: dict[str, Any]) -> Manifest:
    values = merged(ci_values("minimal"), {"autoscaling": {"enabled": True, **override}})
    spec: Manifest = one(render(values), "HorizontalPodAutoscaler")["spec"]
    return spec


def test_hpa_scales_on_cpu_memory_or_both_with_behavior() -> None:
    def targets(spec: Manifest) -> dict[str, int]:
        return {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in spec["metrics"]}

    assert targets(hpa_spec({})) == {"cpu": 70}
    assert "behavior" not in hpa_spec({})
    assert targets(hpa_spec({"targetMemoryUtilizationPercentage": 80})) == {"cpu": 70, "memory": 80}
    assert targets(
        hpa_spec({"targetCPUUtilizationPercentage": None, "targetMemoryUtilizationPercentage": 75})
    ) == {"memory": 75}
    full = one(render(ci_values("full")), "HorizontalPodAutoscaler")["spec"]
    assert full["behavior"] == ci_values("full")["autoscaling"]["behavior"]
    with pytest.raises(
        helm.HelmRenderError, match="targetCPUUtilizationPercentage, targetMemoryUtilizationPercentage"
    ):
        hpa_spec({"targetCPUUtilizationPercentage": None})


SCHEMA = json.loads((CHART / "values.schema.json").read_text())


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = SCHEMA["definitions"][node["$ref"].rsplit("/", 1)[1]]
    return node


def values_parameters(
    values: dict[str, Any], node: dict[str, Any], prefix: str = ""
) -> Iterator[tuple[str, str]]:
    """(dotted name, default as JSON) of every value, down to the objects the schema leaves free-form."""
    properties = _resolve(node).get("properties", {})
    for key, value in values.items():
        schema = _resolve(properties.get(key, {}))
        if isinstance(value, dict) and value and "properties" in schema:
            yield from values_parameters(value, schema, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", json.dumps(value)


README_ROW = re.compile(r"^\| `(?P<name>[^`]+)` \| .* \| `(?P<default>.*)` \|$")


def test_the_readme_parameter_table_matches_values_yaml() -> None:
    expected = dict(values_parameters(yaml.safe_load((CHART / "values.yaml").read_text()), SCHEMA))
    readme = (CHART / "README.md").read_text()
    table = readme.split("## Parameters", 1)[1].split("\n## ", 1)[0]
    rows = [m.groupdict() for line in table.splitlines() if (m := README_ROW.match(line))]
    documented = {row["name"]: row["default"] for row in rows}
    assert len(documented) == len(rows), "a parameter is listed twice"
    missing = [
        f"| `{name}` | ... | `{default}` |" for name, default in expected.items() if name not in documented
    ]
    assert missing == [], "README.md lacks these rows:\n" + "\n".join(missing)
    assert sorted(set(documented) - set(expected)) == [], "README.md lists parameters values.yaml lacks"
    assert {n: d for n, d in documented.items() if d != expected[n]} == {}, "defaults differ from values.yaml"
    assert list(documented) == list(expected), "keep the table in values.yaml's order"


def test_the_chart_icon_is_the_shipped_svg_inline() -> None:
    icon: str = yaml.safe_load((CHART / "Chart.yaml").read_text())["icon"]
    prefix = "data:image/svg+xml;base64,"
    assert icon.startswith(prefix)
    svg = (CHART / "icon.svg").read_bytes()
    assert base64.b64decode(icon.removeprefix(prefix)) == svg
    assert b"href" not in svg  # nothing to fetch
