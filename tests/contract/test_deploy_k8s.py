"""Kubernetes manifests: render base and overlays, validate them, check the house rules.

kustomize is not guaranteed on a test machine, so `render` below implements the few
kustomize features deploy/k8s uses (resources, patches by kind+name, images) and
refuses any other. Where `kustomize` or `kubectl` is installed, a test checks that
this renderer and the real one produce the same documents.
"""

from __future__ import annotations

import json
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

from services.runtime import db_roles as roles

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
TARGETS = ["base", "overlays/dev", "overlays/prod"]
SERVICES = ("identity", "verification", "notifier")
# The newest Kubernetes schema the installed kubernetes-validate ships.
KUBE_VERSION = latest_version()
CUSTOM_RESOURCES = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"),
    ("rabbitmq.com/v1beta1", "User"),
    ("rabbitmq.com/v1beta1", "Permission"),
    ("rabbitmq.com/v1beta1", "TopicPermission"),
    ("postgresql.cnpg.io/v1", "Cluster"),
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


# --- custom resource schemas --------------------------------------------------------------
#
# Only files obtained from the package registries this project uses are vendored; see
# tests/data/README.md. Neither operator's CRD is among them:
# - CloudNativePG `Cluster`: the npm package @kubernetes-models/cloudnative-pg ships a
#   TypeScript declaration generated from the operator's release CRD; it is vendored
#   unchanged and read as a JSON Schema below when the tests run.
# - RabbitMQ `RabbitmqCluster`: no package found on those registries ships its CRD or
#   anything generated from it, so a structural schema is written here by hand.

CNPG_CLUSTER_DTS = ROOT / "tests" / "data" / "kubernetes-models-cloudnative-pg" / "Cluster.d.ts"
# A Kubernetes resource.Quantity ("500m", "1Gi", "1e3"), following its documented grammar.
_NUMBER = r"(\d+(\.\d*)?|\.\d+)"
_QUANTITY = {
    "anyOf": [
        {"type": "integer"},
        {
            "type": "string",
            "pattern": rf"^[+-]?{_NUMBER}([KMGTPE]i|[mkMGTPE]|[eE][+-]?{_NUMBER})?$",
        },
    ]
}
_OPEN_OBJECT = {"type": "object"}


def _closed(properties: Doc, **extra: Any) -> Doc:
    return {"type": "object", "properties": properties, "additionalProperties": False, **extra}


_RESOURCE_REQUIREMENTS = _closed(
    {
        "requests": {"type": "object", "additionalProperties": _QUANTITY},
        "limits": {"type": "object", "additionalProperties": _QUANTITY},
        "claims": {"type": "array", "items": _OPEN_OBJECT},
    }
)
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}

# RabbitmqCluster rabbitmq.com/v1beta1, written by hand for these tests from the RabbitMQ
# Cluster Operator's API reference (no file copied): the `spec` fields listed are known and
# any other is rejected (add one here if deploy/k8s needs it); the fields deploy/k8s sets,
# and the small ones around them, are typed with their documented enums and ranges;
# embedded core Kubernetes types (affinity, tolerations, the StatefulSet and Service
# overrides, the secret backend) are left open.
RABBITMQ_CLUSTER_SCHEMA: Doc = _closed(
    {
        "apiVersion": {"const": "rabbitmq.com/v1beta1"},
        "kind": {"const": "RabbitmqCluster"},
        "metadata": _OPEN_OBJECT,
        "spec": _closed(
            {
                "replicas": {"type": "integer", "minimum": 0},
                "image": {"type": "string"},
                "imagePullSecrets": {
                    "type": "array",
                    "items": _closed({"name": {"type": "string"}}),
                },
                "service": _closed(
                    {
                        "type": {"enum": ["ClusterIP", "LoadBalancer", "NodePort"]},
                        "annotations": _STRING_MAP,
                        "ipFamilyPolicy": {
                            "enum": ["SingleStack", "PreferDualStack", "RequireDualStack"]
                        },
                    }
                ),
                "persistence": _closed(
                    {"storageClassName": {"type": "string"}, "storage": _QUANTITY}
                ),
                "resources": _RESOURCE_REQUIREMENTS,
                "affinity": _OPEN_OBJECT,
                "tolerations": {"type": "array", "items": _OPEN_OBJECT},
                "rabbitmq": _closed(
                    {
                        "additionalConfig": {"type": "string"},
                        "advancedConfig": {"type": "string"},
                        "envConfig": {"type": "string"},
                        "erlangInetConfig": {"type": "string"},
                        "additionalPlugins": {"type": "array", "items": {"type": "string"}},
                    }
                ),
                "tls": _closed(
                    {
                        "secretName": {"type": "string"},
                        "caSecretName": {"type": "string"},
                        "disableNonTLSListeners": {"type": "boolean"},
                    }
                ),
                "override": _closed({"statefulSet": _OPEN_OBJECT, "service": _OPEN_OBJECT}),
                "secretBackend": _OPEN_OBJECT,
                "skipPostDeploySteps": {"type": "boolean"},
                "terminationGracePeriodSeconds": {"type": "integer", "minimum": 0},
                "delayStartSeconds": {"type": "integer", "minimum": 0},
            }
        ),
        "status": _OPEN_OBJECT,
    },
    required=["apiVersion", "kind", "metadata"],
)

# User and Permission rabbitmq.com/v1beta1 (RabbitMQ Messaging Topology Operator), written by
# hand for these tests from the operator's API types (no file copied): every `spec` field the
# API defines, unknown ones rejected, tags with their documented enum.
_CLUSTER_REFERENCE = _closed(
    {
        "name": {"type": "string"},
        "namespace": {"type": "string"},
        "connectionSecret": _closed({"name": {"type": "string"}}),
    },
    minProperties=1,
)
_NAME_REFERENCE = _closed({"name": {"type": "string", "minLength": 1}}, required=["name"])
RABBITMQ_USER_SCHEMA: Doc = _closed(
    {
        "apiVersion": {"const": "rabbitmq.com/v1beta1"},
        "kind": {"const": "User"},
        "metadata": _OPEN_OBJECT,
        "spec": _closed(
            {
                "tags": {
                    "type": "array",
                    "items": {"enum": ["management", "policymaker", "monitoring", "administrator"]},
                },
                "rabbitmqClusterReference": _CLUSTER_REFERENCE,
                "importCredentialsSecret": _NAME_REFERENCE,
            },
            required=["rabbitmqClusterReference"],
        ),
        "status": _OPEN_OBJECT,
    },
    required=["apiVersion", "kind", "metadata", "spec"],
)
RABBITMQ_PERMISSION_SCHEMA: Doc = _closed(
    {
        "apiVersion": {"const": "rabbitmq.com/v1beta1"},
        "kind": {"const": "Permission"},
        "metadata": _OPEN_OBJECT,
        "spec": _closed(
            {
                "user": {"type": "string"},
                "userReference": _NAME_REFERENCE,
                "vhost": {"type": "string", "minLength": 1},
                "permissions": _closed(
                    {
                        "configure": {"type": "string"},
                        "write": {"type": "string"},
                        "read": {"type": "string"},
                    }
                ),
                "rabbitmqClusterReference": _CLUSTER_REFERENCE,
            },
            required=["vhost", "permissions", "rabbitmqClusterReference"],
            anyOf=[{"required": ["user"]}, {"required": ["userReference"]}],
        ),
        "status": _OPEN_OBJECT,
    },
    required=["apiVersion", "kind", "metadata", "spec"],
)

# TopicPermission, the same way: the operator's TopicPermissionSpec (vhost, user or
# userReference, permissions {exchange, write, read}, rabbitmqClusterReference).
RABBITMQ_TOPIC_PERMISSION_SCHEMA: Doc = _closed(
    {
        "apiVersion": {"const": "rabbitmq.com/v1beta1"},
        "kind": {"const": "TopicPermission"},
        "metadata": _OPEN_OBJECT,
        "spec": _closed(
            {
                "user": {"type": "string"},
                "userReference": _NAME_REFERENCE,
                "vhost": {"type": "string", "minLength": 1},
                "permissions": _closed(
                    {
                        "exchange": {"type": "string"},
                        "write": {"type": "string"},
                        "read": {"type": "string"},
                    }
                ),
                "rabbitmqClusterReference": _CLUSTER_REFERENCE,
            },
            required=["vhost", "permissions", "rabbitmqClusterReference"],
            anyOf=[{"required": ["user"]}, {"required": ["userReference"]}],
        ),
        "status": _OPEN_OBJECT,
    },
    required=["apiVersion", "kind", "metadata", "spec"],
)

_TS_TOKEN = re.compile(r'\s+|/\*.*?\*/|//[^\n]*|("(?:[^"\\]|\\.)*"|[A-Za-z_$][\w$]*|\S)', re.S)


class _TypeScriptTypes:
    """Reads the object types of a kubernetes-models declaration file as JSON Schema.

    Knows the little TypeScript those generated files use: string, number and boolean,
    string literals, unions, Array<T>, object literals (closed, like the CRD's structural
    schema, unless they are empty or have an index signature) and the IObjectMeta import.
    """

    def __init__(self, text: str) -> None:
        self.tokens = [m.group(1) for m in _TS_TOKEN.finditer(text) if m.group(1)]
        self.pos = 0

    def interface(self, name: str) -> Doc:
        self.pos = next(
            i + 3
            for i, token in enumerate(self.tokens)
            if self.tokens[i : i + 3] == ["interface", name, "{"]
        )
        return self._object()

    def _take(self, expected: str | None = None) -> str:
        token = self.tokens[self.pos]
        if expected is not None and token != expected:
            raise ValueError(f"expected {expected!r}, found {token!r} at token {self.pos}")
        self.pos += 1
        return token

    def _type(self) -> Doc:
        options = [self._primary()]
        while self.tokens[self.pos] == "|":
            self._take("|")
            options.append(self._primary())
        if len(options) == 1:
            return options[0]
        if all("const" in option for option in options):
            return {"enum": [option["const"] for option in options]}
        return {"anyOf": options}

    def _primary(self) -> Doc:
        token = self._take()
        if token.startswith('"'):
            return {"const": json.loads(token)}
        if token in ("string", "number", "boolean"):
            return {"type": token}
        if token == "Array":
            self._take("<")
            items = self._type()
            self._take(">")
            return {"type": "array", "items": items}
        if token == "{":
            return self._object()
        if token == "IObjectMeta":
            return {"type": "object"}
        raise ValueError(f"unknown TypeScript type {token!r} at token {self.pos - 1}")

    def _object(self) -> Doc:
        properties: Doc = {}
        required: list[str] = []
        index_signature: Doc | None = None
        while self.tokens[self.pos] != "}":
            if self.tokens[self.pos] == "[":  # [key: string]: T
                for expected in ("[", None, ":", "string", "]", ":"):
                    self._take(expected)
                index_signature = self._type()
            else:
                token = self._take()
                name = json.loads(token) if token.startswith('"') else token
                optional = self.tokens[self.pos] == "?"
                if optional:
                    self._take("?")
                self._take(":")
                properties[name] = self._type()
                if not optional:
                    required.append(name)
            self._take(";")
        self._take("}")
        schema: Doc = {"type": "object"}
        if properties:
            schema["properties"] = properties
        if required:
            schema["required"] = required
        if index_signature is not None:
            schema["additionalProperties"] = index_signature
        elif properties:
            schema["additionalProperties"] = False
        return schema


def cnpg_cluster_schema() -> Doc:
    """The CloudNativePG Cluster schema, from the vendored kubernetes-models declaration.

    TypeScript has no integer type nor bounds; `spec.instances` gets back the CRD's
    `integer, minimum 1`, which the same package's compiled validator
    (_schemas/PostgresqlCnpgIoV1Cluster.js) checks and the CloudNativePG API reference
    documents. Patterns, formats and CEL rules of the CRD are not checked.
    """
    schema = _TypeScriptTypes(CNPG_CLUSTER_DTS.read_text()).interface("ICluster")
    spec = schema["properties"]["spec"]
    assert spec["properties"]["instances"] == {"type": "number"}, "the declaration changed"
    spec["properties"]["instances"] = {"type": "integer", "minimum": 1}
    return schema


CUSTOM_RESOURCE_SCHEMAS = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): lambda: RABBITMQ_CLUSTER_SCHEMA,
    ("rabbitmq.com/v1beta1", "User"): lambda: RABBITMQ_USER_SCHEMA,
    ("rabbitmq.com/v1beta1", "Permission"): lambda: RABBITMQ_PERMISSION_SCHEMA,
    ("rabbitmq.com/v1beta1", "TopicPermission"): lambda: RABBITMQ_TOPIC_PERMISSION_SCHEMA,
    ("postgresql.cnpg.io/v1", "Cluster"): cnpg_cluster_schema,
}


@cache
def _custom_resource_validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    schema = CUSTOM_RESOURCE_SCHEMAS[(api_version, kind)]()
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
def test_operator_resources_validate_against_their_schemas(target: str) -> None:
    """Validate the RabbitmqCluster and the CloudNativePG Cluster (unknown fields rejected).

    Neither operator's official CRD is vendored: no package on the registries this project
    uses (PyPI, npm, Debian) ships either CRD file, and the copies vendored before came from
    a source this project may not take content from. The Cluster is checked against the
    schema of the TypeScript declaration that @kubernetes-models/cloudnative-pg generated
    from the CloudNativePG 1.29.0 release CRD (types, enums, required fields, the full field
    tree; no patterns, formats or CEL rules). The RabbitmqCluster is checked only against the
    hand-written RABBITMQ_CLUSTER_SCHEMA above, taken from the operator's API reference: it
    rejects `spec` fields it does not list, types only the ones deploy/k8s uses and those
    around them, and leaves embedded core Kubernetes types open.
    """
    for doc in rendered(target):
        key = (doc["apiVersion"], doc["kind"])
        if key in CUSTOM_RESOURCES:
            errors = sorted(_custom_resource_validator(*key).iter_errors(doc), key=str)
            assert not errors, [f"{e.json_path}: {e.message}" for e in errors]


_BAD_SPECS = {
    "rabbit-misspelt-field": ("RabbitmqCluster", {"replica": 3}),
    "rabbit-negative-replicas": ("RabbitmqCluster", {"replicas": -1}),
    "rabbit-replicas-as-string": ("RabbitmqCluster", {"replicas": "three"}),
    "rabbit-unknown-service-type": ("RabbitmqCluster", {"service": {"type": "Ingress"}}),
    "rabbit-bad-quantity": ("RabbitmqCluster", {"persistence": {"storage": "ten gigs"}}),
    "user-unknown-tag": ("User", {"tags": ["root"]}),
    "user-misspelt-field": ("User", {"importCredentialSecret": {"name": "x"}}),
    "permission-misspelt-operation": ("Permission", {"permissions": {"writes": ".*"}}),
    "permission-vhost-as-number": ("Permission", {"vhost": 1}),
    "topic-permission-misspelt-field": ("TopicPermission", {"permissions": {"exchanges": "x"}}),
    "pg-misspelt-field": ("Cluster", {"instance": 3}),
    "pg-instances-as-string": ("Cluster", {"instances": "three"}),
    "pg-zero-instances": ("Cluster", {"instances": 0}),
    "pg-unknown-update-strategy": ("Cluster", {"primaryUpdateStrategy": "automatic"}),
    "pg-misspelt-nested-field": ("Cluster", {"bootstrap": {"initdb": {"databse": "gatehouse"}}}),
    "pg-fractional-instances": ("Cluster", {"instances": 1.5}),
    "pg-unknown-log-level": ("Cluster", {"logLevel": "verbose"}),
    "pg-parameter-as-number": ("Cluster", {"postgresql": {"parameters": {"max_connections": 200}}}),
    "pg-misspelt-core-field": ("Cluster", {"storage": {"pvcTemplate": {"accessMode": ["RWO"]}}}),
    "pg-wrong-core-type": ("Cluster", {"env": [{"name": "TZ", "value": 1}]}),
}


@pytest.mark.parametrize("case", sorted(_BAD_SPECS))
def test_custom_resource_validation_rejects_a_wrong_field(case: str) -> None:
    """A misspelt or mistyped field fails (schemas as described in the test above)."""
    kind, patch = _BAD_SPECS[case]
    resource = _of_kind(rendered("base"), kind)[0]
    validator = _custom_resource_validator(resource["apiVersion"], resource["kind"])
    assert validator.is_valid(resource)
    _merge(resource["spec"], patch, strategic=False)
    assert not validator.is_valid(resource), f"{case} was accepted"


def test_custom_resource_schemas_accept_other_valid_fields() -> None:
    """Fields deploy/k8s does not set yet, written correctly, must not be rejected."""
    (rabbit,) = _of_kind(rendered("base"), "RabbitmqCluster")
    rabbit["spec"]["affinity"] = {
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": []}
    }
    rabbit["spec"]["override"] = {"statefulSet": {"spec": {"template": {"spec": {}}}}}
    rabbit["spec"]["service"] = {"type": "ClusterIP", "annotations": {"a": "b"}}
    rabbit["spec"]["rabbitmq"]["additionalPlugins"] = ["rabbitmq_shovel"]
    rabbit["spec"]["persistence"]["storageClassName"] = "standard"
    assert _custom_resource_validator(rabbit["apiVersion"], rabbit["kind"]).is_valid(rabbit)
    (database,) = _of_kind(rendered("base"), "Cluster")
    database["spec"]["storage"]["pvcTemplate"] = {"accessModes": ["ReadWriteOnce"]}
    database["spec"]["env"] = [{"name": "TZ", "value": "UTC"}]
    database["spec"]["affinity"] = {"enablePodAntiAffinity": True, "topologyKey": "zone"}
    database["spec"]["monitoring"] = {"enablePodMonitor": True}
    database["spec"]["primaryUpdateMethod"] = "switchover"
    assert _custom_resource_validator(database["apiVersion"], database["kind"]).is_valid(database)


def test_cnpg_schema_is_read_from_the_whole_declaration() -> None:
    """The TypeScript reader must see the operator's fields, not a truncated or empty type."""
    schema = cnpg_cluster_schema()
    assert schema["required"] == ["apiVersion", "kind", "metadata", "spec"]
    spec = schema["properties"]["spec"]
    assert spec["additionalProperties"] is False
    assert {"instances", "bootstrap", "storage", "postgresql", "resources"} <= set(
        spec["properties"]
    )
    assert len(spec["properties"]) > 40
    assert spec["properties"]["primaryUpdateStrategy"] == {"enum": ["unsupervised", "supervised"]}


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
        assert [c["command"] for c in pod["initContainers"]] == [
            ["gatehouse", "migrate", "--service", service]
        ]


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


def test_referenced_secrets_are_documented_in_the_deploying_page() -> None:
    page = (ROOT / "docs" / "operations" / "deploying.md").read_text()
    for target in TARGETS:
        text = _rendered_text(target)  # keys sorted: `key` comes before `name`
        for ref in re.finditer(r"secretKeyRef:\n\s+key: (\S+)\n\s+name: (\S+)", text):
            key, name = ref.groups()
            assert name in page and key in page, f"{name}/{key} missing from the deploying page"


# --- secrets and database roles: each pod only what its service uses (issue 21) -------------

# Per service: the variables it reads from a Secret, and the Secret and key each comes from.
SERVICE_SECRETS = {
    "identity": {
        "GATEHOUSE_REPLY_KEY": ("gatehouse-identity-secrets", "reply-key"),
        "GATEHOUSE_SIGNING_KEY_SECRET": ("gatehouse-identity-secrets", "signing-key-secret"),
        "GATEHOUSE_TOTP_KEY": ("gatehouse-identity-secrets", "totp-key"),
    },
    "verification": {
        "GATEHOUSE_CODE_HMAC_KEY": ("gatehouse-verification-secrets", "code-hmac-key"),
        "GATEHOUSE_REPLY_KEY": ("gatehouse-verification-secrets", "reply-key"),
    },
    "notifier": {
        "GATEHOUSE_REPLY_KEY": ("gatehouse-notifier-secrets", "reply-key"),
        "GATEHOUSE_SMTP_URL": ("gatehouse-notifier-secrets", "smtp-url"),
        "GATEHOUSE_SMS_AUTH_TOKEN": ("gatehouse-notifier-secrets", "sms-auth-token"),
    },
}


def _secret_refs(container: Doc) -> dict[str, tuple[str, str]]:
    assert not any("secretRef" in source for source in container.get("envFrom", []))
    return {
        item["name"]: (ref["name"], ref["key"])
        for item in container.get("env", [])
        if (ref := item.get("valueFrom", {}).get("secretKeyRef"))
    }


@pytest.mark.parametrize("target", TARGETS)
def test_each_pod_gets_only_the_secrets_its_service_uses(target: str) -> None:
    deployments = _by_key(rendered(target))
    for service, secrets in SERVICE_SECRETS.items():
        pod = deployments[("Deployment", f"gatehouse-{service}")]["spec"]["template"]["spec"]
        database = {
            "DB_USERNAME": (f"gatehouse-db-{service}", "username"),
            "DB_PASSWORD": (f"gatehouse-db-{service}", "password"),
        }
        (init,) = pod["initContainers"]
        assert _secret_refs(init) == database  # migrating needs no key at all
        (main,) = pod["containers"]
        refs = _secret_refs(main)
        # The broker's credentials are the RabbitMQ roles' business (issue 21, points 1-3).
        broker = {k: v for k, v in refs.items() if v[0].endswith("-user-credentials")}
        assert {k: v for k, v in refs.items() if k not in broker} == {**database, **secrets}
    notifier = deployments[("Deployment", "gatehouse-notifier")]["spec"]["template"]["spec"]
    names = {item["name"] for c in notifier["containers"] for item in c.get("env", [])}
    assert "GATEHOUSE_CODE_HMAC_KEY" not in names and "GATEHOUSE_SIGNING_KEY_SECRET" not in names


@pytest.mark.parametrize("target", TARGETS)
def test_each_service_signs_in_to_the_database_as_its_own_role(target: str) -> None:
    docs = rendered(target)
    deployments = _by_key(docs)
    (cluster,) = _of_kind(docs, "Cluster")
    managed = {role["name"]: role for role in cluster["spec"]["managed"]["roles"]}
    for service in SERVICES:
        pod = deployments[("Deployment", f"gatehouse-{service}")]["spec"]["template"]["spec"]
        for container in pod["containers"] + pod["initContainers"]:
            env = {item["name"]: item for item in container["env"]}
            assert env["GATEHOUSE_DATABASE_URL"]["value"].startswith(
                "postgresql://$(DB_USERNAME):$(DB_PASSWORD)@"
            )
        role = managed[roles.role_name(roles.DEFAULT_PREFIX, service)]
        assert role["login"] is True and role.get("ensure", "present") == "present"
        assert role["passwordSecret"] == {"name": f"gatehouse-db-{service}"}
        assert not role.get("superuser") and not role.get("createdb")


def test_the_cluster_bootstraps_the_roles_gatehouse_db_roles_makes() -> None:
    (cluster,) = _of_kind(rendered("base"), "Cluster")
    assert cluster["spec"]["bootstrap"]["initdb"]["postInitApplicationSQL"] == roles.statements()
