"""Kubernetes manifests: render base and overlays, validate them, check the house rules.

kustomize is not guaranteed on a test machine, so `render` below implements the few
kustomize features deploy/k8s uses (resources, patches by kind+name, images) and
refuses any other. Where `kustomize` or `kubectl` is installed, a test checks that
this renderer and the real one produce the same documents.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
CRDS = ROOT / "tests" / "data" / "crds"
TARGETS = ["base", "overlays/dev", "overlays/prod"]
SERVICES = ("identity", "verification", "notifier")
# The newest Kubernetes schema the installed kubernetes-validate ships.
KUBE_VERSION = latest_version()
CUSTOM_RESOURCES = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): "rabbitmq.com_rabbitmqclusters.yaml",
    ("postgresql.cnpg.io/v1", "Cluster"): "postgresql.cnpg.io_clusters.yaml",
}

Doc = dict[str, Any]


# --- a small kustomize ---------------------------------------------------------------

_SUPPORTED_FIELDS = {"apiVersion", "kind", "resources", "patches", "images"}


def _load_all(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _is_builtin(api_version: str) -> bool:
    group = api_version.rpartition("/")[0]
    return "." not in group or group.endswith(".k8s.io")


def _merge(target: Any, patch: Any, strategic: bool) -> Any:
    """Strategic merge for built-in kinds (named list items merge by name), JSON merge otherwise."""
    if isinstance(target, dict) and isinstance(patch, dict):
        for key, value in patch.items():
            if value is None:
                target.pop(key, None)
            elif key in target:
                target[key] = _merge(target[key], value, strategic)
            else:
                target[key] = value
        return target
    named = (
        strategic
        and isinstance(target, list)
        and isinstance(patch, list)
        and all(isinstance(item, dict) and "name" in item for item in target + patch)
    )
    if named:
        by_name = {item["name"]: item for item in target}
        for item in patch:
            if item["name"] in by_name:
                _merge(by_name[item["name"]], item, strategic)
            else:
                target.append(item)
        return target
    return patch


def _containers(node: Any):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                yield from value
            else:
                yield from _containers(value)
    elif isinstance(node, list):
        for item in node:
            yield from _containers(item)


def _set_image(docs: list[Doc], rule: dict[str, str]) -> None:
    for container in _containers(docs):
        name = re.split(r"[@:]", container.get("image", ""), maxsplit=1)[0]
        if name != rule["name"]:
            continue
        old_tag = container["image"][len(name) + 1 :] if container["image"] != name else ""
        tag = rule.get("newTag", old_tag)
        container["image"] = rule.get("newName", name) + (f":{tag}" if tag else "")


def render(directory: Path) -> list[Doc]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - _SUPPORTED_FIELDS
    assert not unsupported, f"{directory}: the test renderer does not implement {unsupported}"
    docs: list[Doc] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        docs += render(path) if path.is_dir() else _load_all(path)
    for entry in kustomization.get("patches", []):
        assert set(entry) == {"path"}, f"only file patches with an implicit target: {entry}"
        for patch in _load_all(directory / entry["path"]):
            matches = [
                doc
                for doc in docs
                if doc["kind"] == patch["kind"]
                and doc["metadata"]["name"] == patch["metadata"]["name"]
            ]
            assert len(matches) == 1, f"patch target {patch['kind']}/{patch['metadata']['name']}"
            _merge(matches[0], patch, _is_builtin(patch["apiVersion"]))
    for rule in kustomization.get("images", []):
        _set_image(docs, rule)
    return docs


@cache
def _rendered_text(target: str) -> str:
    return yaml.safe_dump_all(render(K8S / target), sort_keys=True)


def rendered(target: str) -> list[Doc]:
    return list(yaml.safe_load_all(_rendered_text(target)))


def _by_key(docs: list[Doc]) -> dict[tuple[str, str], Doc]:
    keyed = {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}
    assert len(keyed) == len(docs), "two documents share a kind and name"
    return keyed


def _of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def _kustomize_command() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


# --- CRD schemas ------------------------------------------------------------------------


def _to_json_schema(node: Doc) -> Doc:
    """OpenAPI v3 structural schema -> JSON Schema that rejects unknown fields.

    The API server prunes unknown fields of a custom resource silently; rejecting them
    here catches a misspelt field. CEL rules (x-kubernetes-validations) are not checked.
    """
    out: Doc = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: _to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = _to_json_schema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [_to_json_schema(sub) for sub in value]
        elif key.startswith("x-kubernetes-") or key in ("nullable", "description"):
            continue
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@cache
def _crd_validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    group, _, version = api_version.rpartition("/")
    path = CRDS / CUSTOM_RESOURCES[(api_version, kind)]
    if not path.exists():
        pytest.skip(f"{path.relative_to(ROOT)} is not vendored yet (see tests/data/README.md)")
    # A file may hold several documents (an operator's release manifest): pick the CRD.
    (crd,) = [
        doc
        for doc in _load_all(path)
        if doc.get("kind") == "CustomResourceDefinition"
        and doc["spec"]["group"] == group
        and doc["spec"]["names"]["kind"] == kind
    ]
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema = _to_json_schema(served["schema"]["openAPIV3Schema"])
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


# --- rendering --------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_test_renderer_matches_kustomize(target: str) -> None:
    command = _kustomize_command()
    if command is None:
        pytest.skip("neither kustomize nor kubectl is installed")
    result = subprocess.run(
        [*command, str(K8S / target)], capture_output=True, text=True, timeout=60, check=True
    )
    expected = _by_key([doc for doc in yaml.safe_load_all(result.stdout) if doc])
    assert _by_key(rendered(target)) == expected


@pytest.mark.parametrize("target", TARGETS)
def test_every_target_renders_all_resources(target: str) -> None:
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in rendered(target)}
    for service in SERVICES:
        for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
            assert (kind, f"gatehouse-{service}") in kinds
    assert ("ConfigMap", "gatehouse-settings") in kinds
    assert ("RabbitmqCluster", "gatehouse-rabbitmq") in kinds
    assert ("Cluster", "gatehouse-db") in kinds
    assert all("namespace" not in doc["metadata"] for doc in rendered(target))


# --- schemas ----------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_core_documents_validate_strictly(target: str) -> None:
    core = [
        doc for doc in rendered(target) if (doc["apiVersion"], doc["kind"]) not in CUSTOM_RESOURCES
    ]
    assert core
    for doc in core:
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


@pytest.mark.parametrize("target", TARGETS)
def test_operator_resources_validate_against_their_crds(target: str) -> None:
    for doc in rendered(target):
        key = (doc["apiVersion"], doc["kind"])
        if key in CUSTOM_RESOURCES:
            errors = sorted(_crd_validator(*key).iter_errors(doc), key=str)
            assert not errors, [f"{e.json_path}: {e.message}" for e in errors]


def test_crd_validation_rejects_a_misspelt_field() -> None:
    (cluster,) = _of_kind(rendered("base"), "RabbitmqCluster")
    cluster["spec"]["replica"] = 3
    assert not _crd_validator(cluster["apiVersion"], cluster["kind"]).is_valid(cluster)


# --- house rules ------------------------------------------------------------------------


def test_prod_runs_three_of_everything() -> None:
    docs = rendered("overlays/prod")
    (rabbit,) = _of_kind(docs, "RabbitmqCluster")
    (database,) = _of_kind(docs, "Cluster")
    assert rabbit["spec"]["replicas"] == 3
    assert database["spec"]["instances"] == 3
    for deployment in _of_kind(docs, "Deployment"):
        assert deployment["spec"]["replicas"] >= 3
    for hpa in _of_kind(docs, "HorizontalPodAutoscaler"):
        assert 3 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]


def test_dev_runs_one_of_everything() -> None:
    docs = rendered("overlays/dev")
    (rabbit,) = _of_kind(docs, "RabbitmqCluster")
    (database,) = _of_kind(docs, "Cluster")
    assert rabbit["spec"]["replicas"] == 1
    assert database["spec"]["instances"] == 1
    assert {d["spec"]["replicas"] for d in _of_kind(docs, "Deployment")} == {1}
    assert {h["spec"]["maxReplicas"] for h in _of_kind(docs, "HorizontalPodAutoscaler")} == {1}


def test_no_secret_values_are_committed() -> None:
    for target in TARGETS:
        assert not _of_kind(rendered(target), "Secret"), "create Secrets out of band"
    for path in K8S.rglob("*.yaml"):
        for doc in _load_all(path):
            assert doc.get("kind") != "Secret" or not (doc.get("data") or doc.get("stringData"))


def _probe_path(container: Doc, probe: str) -> str:
    return container[probe]["httpGet"]["path"]


@pytest.mark.parametrize("target", TARGETS)
def test_every_deployment_is_probed_limited_and_locked_down(target: str) -> None:
    for deployment in _of_kind(rendered(target), "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        tmp_volumes = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        (main,) = pod["containers"]
        assert _probe_path(main, "readinessProbe") == "/readyz"
        assert _probe_path(main, "livenessProbe") == "/healthz"
        for container in pod["containers"] + pod.get("initContainers", []):
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]) & set(resources["limits"])
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts.get("/tmp") in tmp_volumes


def test_each_service_runs_its_own_app_after_migrations() -> None:
    deployments = _by_key(rendered("base"))
    for service in SERVICES:
        pod = deployments[("Deployment", f"gatehouse-{service}")]["spec"]["template"]["spec"]
        (main,) = pod["containers"]
        assert main["command"] == ["faststream", "run", f"services.{service}.app:app"]
        assert [c["command"] for c in pod["initContainers"]] == [["gatehouse", "migrate"]]


def test_services_expose_the_metrics_port() -> None:
    for service in _of_kind(rendered("base"), "Service"):
        assert [p["port"] for p in service["spec"]["ports"]] == [8080]


def test_network_policy_allows_only_broker_database_dns_and_metrics() -> None:
    policies = _by_key(rendered("base"))
    main = policies[("NetworkPolicy", "gatehouse")]["spec"]
    assert set(main["policyTypes"]) == {"Ingress", "Egress"}
    assert [p["port"] for rule in main["ingress"] for p in rule["ports"]] == [8080]
    assert {p["port"] for rule in main["egress"] for p in rule["ports"]} == {5672, 5432, 53}
    notifier = policies[("NetworkPolicy", "gatehouse-notifier-providers")]["spec"]
    assert notifier["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "notifier"
    assert {p["port"] for rule in notifier["egress"] for p in rule["ports"]} <= {25, 465, 587, 443}


def test_referenced_secrets_are_documented_in_the_readme() -> None:
    readme = (ROOT / "deploy" / "README.md").read_text()
    for target in TARGETS:
        text = _rendered_text(target)  # keys sorted: `key` comes before `name`
        for ref in re.finditer(r"secretKeyRef:\n\s+key: (\S+)\n\s+name: (\S+)", text):
            key, name = ref.groups()
            assert name in readme and key in readme, f"{name}/{key} missing from deploy/README.md"
