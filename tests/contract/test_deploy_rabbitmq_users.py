"""The four RabbitMQ roles (services, workers, callers, admins) that deploy/k8s declares,
compose creates and the docs give are the ones `services.ops.broker_roles` defines: the same
users, vhost and topic permissions, only admins writing to the admin exchange, only the
services to the default exchange, and the services signing in as theirs. (The User, Permission and
TopicPermission resources are validated against their schemas with the other custom
resources, in test_deploy_k8s.py.)"""

import json
import re
from dataclasses import asdict

import pytest
import yaml

from contracts.topology import Topology
from services.ops.broker_roles import DOCS_PAGE, SECTION_BEGIN, SECTION_END, docs_section, roles
from services.ops.broker_users import read_password_file
from tests.contract.test_deploy_k8s import (
    ROOT,
    TARGETS,
    Doc,
    _of_kind,
    _rendered_text,
    rendered,
)

ROLES = ("services", "workers", "callers", "admins")


def _namespace_of(docs: list[Doc]) -> str:
    return str(_settings_of(docs)["GATEHOUSE_NAMESPACE"])


def _settings_of(docs: list[Doc]) -> dict[str, str]:
    (settings,) = [
        d for d in _of_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("settings")
    ]
    return dict(settings["data"])


def test_the_definition_has_the_four_roles() -> None:
    assert tuple(roles(Topology())) == ROLES


@pytest.mark.parametrize("target", TARGETS)
def test_four_rabbitmq_users_hold_the_permissions_the_definition_gives(target: str) -> None:
    """Each role a User beside the cluster, its Permission and its TopicPermissions, with the
    regular expressions `services.ops.broker_roles` gives for the namespace the services run in."""
    docs = rendered(target)
    (cluster,) = _of_kind(docs, "RabbitmqCluster")
    cluster_ref = {"name": cluster["metadata"]["name"]}
    users = {u["metadata"]["name"]: u for u in _of_kind(docs, "User")}
    grants = {p["metadata"]["name"]: p for p in _of_kind(docs, "Permission")}
    expected = roles(Topology(_namespace_of(docs)))
    assert set(users) == set(grants) == {f"gatehouse-{role}" for role in ROLES}
    topics: dict[str, list[dict[str, str]]] = {}
    for topic in _of_kind(docs, "TopicPermission"):
        spec = topic["spec"]
        assert spec["rabbitmqClusterReference"] == cluster_ref and spec["vhost"] == "/"
        topics.setdefault(spec["userReference"]["name"], []).append(spec["permissions"])
    for role in ROLES:
        name = f"gatehouse-{role}"
        user, grant = users[name]["spec"], grants[name]["spec"]
        assert user["rabbitmqClusterReference"] == cluster_ref
        assert not user.get("tags"), "no management UI rights for an application user"
        assert grant["rabbitmqClusterReference"] == cluster_ref
        assert grant["userReference"] == {"name": name} and grant["vhost"] == "/"
        assert grant["permissions"] == asdict(expected[role].permission), role
        assert sorted(topics.get(name, []), key=str) == sorted(
            (asdict(t) for t in expected[role].topics), key=str
        ), role


def _may(pattern: str, names: tuple[str, ...]) -> set[str]:
    # RabbitMQ searches with PCRE; Python's `re` reads these patterns the same way.
    return {name for name in names if re.search(pattern, name)}


def test_who_may_publish_where() -> None:
    """The patterns of the manifests, read as RabbitMQ reads them, for the names that matter."""
    docs = rendered("base")
    topology = Topology(_namespace_of(docs))
    grants = {p["metadata"]["name"]: p["spec"]["permissions"] for p in _of_kind(docs, "Permission")}
    exchanges = (*topology.exchanges(), topology.dead_letter, "amq.default")
    write = {role: _may(grants[f"gatehouse-{role}"]["write"], exchanges) for role in ROLES}
    assert topology.admin in write["admins"]
    assert topology.admin not in write["callers"] | write["services"] | write["workers"]
    assert write["callers"] == {topology.commands}
    assert write["workers"] == {topology.workers}
    # The default exchange reaches every queue by name: the services' replies only.
    assert "amq.default" in write["services"]
    assert "amq.default" not in write["callers"] | write["admins"] | write["workers"]
    assert {topology.events, topology.commands, topology.internal} <= write["services"]


def test_workers_read_only_their_own_queues_and_bind_only_exact_hook_keys() -> None:
    topology = Topology()
    workers = roles(topology)["workers"]
    read = workers.permission.read
    for forbidden in (
        topology.command_queue("identity.login.v1"),
        topology.command_queue("verification.check_code.v1"),
        topology.command_queue("identity.jwks.v1"),
        topology.consumer_queue("notifier", "email"),
        topology.delivery,
        topology.dead_letter,
        topology.events,
    ):
        assert not re.search(read, forbidden), forbidden
    assert re.search(read, topology.channel_queue("twilio")) and re.search(read, topology.hooks)
    (hooks,) = [t for t in workers.topics if t.exchange == topology.hooks]
    assert re.search(hooks.read, "hooks.post_login.v1.100.require_verified_email")
    assert not re.search(hooks.read, "hooks.#") and not re.search(hooks.read, "hooks.*.v1.*.*")
    (delivery,) = [t for t in workers.topics if t.exchange == topology.delivery]
    assert not _may(delivery.read, ("email", "sms", "#", "custom.#"))


def test_the_admin_users_setting_names_the_admins_user() -> None:
    settings = _settings_of(rendered("base"))
    assert json.loads(settings["GATEHOUSE_ADMIN_USERS"]) == ["gatehouse-admins"]


def test_the_docs_section_is_generated_from_the_definition() -> None:
    """The "Who may do what" page: tables and rabbitmqctl commands, for the default namespace;
    regenerate it with `services.ops.broker_roles.docs_section()`."""
    page = (ROOT / DOCS_PAGE).read_text()
    start, end = page.index(SECTION_BEGIN), page.index(SECTION_END) + len(SECTION_END)
    assert page[start:end] == docs_section()


def test_the_services_sign_in_as_the_services_user() -> None:
    """Not as the cluster operator's default user, an administrator of the whole broker."""
    text = _rendered_text("base")
    assert "default-user" not in text
    for deployment in _of_kind(rendered("base"), "Deployment"):
        (main,) = deployment["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in main["env"]}
        assert "GATEHOUSE_AMQP_URL" in env
        for variable in ("RABBITMQ_USERNAME", "RABBITMQ_PASSWORD"):
            ref = env[variable]["valueFrom"]["secretKeyRef"]
            assert ref["name"] == "gatehouse-services-user-credentials"


def test_compose_creates_the_four_roles_with_the_command() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    service = compose["services"]["broker-users"]
    command = service["command"]
    assert command[:3] == ["gatehouse", "broker-users", "apply"]
    secret = compose["secrets"]["broker-passwords"]["file"]
    passwords = read_password_file((ROOT / "deploy" / secret).read_text())
    assert set(passwords) == set(ROLES)
    assert "/run/secrets/broker-passwords" in command
