"""The three RabbitMQ users (services, callers, admins) that deploy/k8s declares and README
gives: the permissions `services.namespace.permissions` computes, only admins writing to the
admin exchange, and the services signing in as theirs. (The User and Permission resources are
validated against their schemas with the other custom resources, in test_deploy_k8s.py.)"""

import re
from dataclasses import asdict

import pytest

from contracts.topology import Topology
from services import namespace
from tests.contract.test_deploy_k8s import (
    ROOT,
    TARGETS,
    Doc,
    _of_kind,
    _rendered_text,
    rendered,
)

ROLES = ("services", "callers", "admins")


def _namespace_of(docs: list[Doc]) -> str:
    (settings,) = [
        d for d in _of_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("settings")
    ]
    return str(settings["data"]["GATEHOUSE_NAMESPACE"])


@pytest.mark.parametrize("target", TARGETS)
def test_three_rabbitmq_users_hold_the_permissions_the_code_computes(target: str) -> None:
    """README's three users (services, callers, admins), declared beside the cluster, each
    with the regular expressions `services.namespace.permissions` gives for the namespace the
    services run in."""
    docs = rendered(target)
    (cluster,) = _of_kind(docs, "RabbitmqCluster")
    users = {u["metadata"]["name"]: u for u in _of_kind(docs, "User")}
    grants = {p["metadata"]["name"]: p for p in _of_kind(docs, "Permission")}
    assert set(users) == set(grants) == {f"gatehouse-{role}" for role in ROLES}
    expected = namespace.permissions(Topology(_namespace_of(docs)))
    for role in ROLES:
        name = f"gatehouse-{role}"
        user, grant = users[name]["spec"], grants[name]["spec"]
        assert user["rabbitmqClusterReference"] == {"name": cluster["metadata"]["name"]}
        assert not user.get("tags"), "no management UI rights for an application user"
        assert grant["rabbitmqClusterReference"] == {"name": cluster["metadata"]["name"]}
        assert grant["userReference"] == {"name": name} and grant["vhost"] == "/"
        assert grant["permissions"] == asdict(expected[role]), role


def test_only_the_admins_may_publish_to_the_admin_exchange() -> None:
    """The patterns, read as RabbitMQ reads them (a full match of the name), for the names
    that matter: Python's `re` and RabbitMQ's PCRE agree on this subset."""
    topology = Topology(_namespace_of(rendered("base")))
    grants = {
        p["metadata"]["name"]: p["spec"]["permissions"]
        for p in _of_kind(rendered("base"), "Permission")
    }
    may_write = {
        role: {
            name
            for name in (topology.admin, topology.commands, topology.events, "amq.default")
            if re.search(grants[f"gatehouse-{role}"]["write"], name)
        }
        for role in ROLES
    }
    assert topology.admin in may_write["admins"]
    assert topology.admin not in may_write["callers"] | may_write["services"]
    assert may_write["callers"] == {topology.commands}
    assert {topology.events, topology.commands, "amq.default"} <= may_write["services"]


def test_the_readme_gives_the_permissions_the_code_computes() -> None:
    """README's table and its rabbitmqctl commands (for the default namespace)."""
    readme = (ROOT / "README.md").read_text()
    expected = namespace.permissions(Topology())
    for role in ROLES:
        granted = expected[role]
        command = (
            f"rabbitmqctl set_permissions -p / gatehouse-{role} '{granted.configure}'"
            f" '{granted.write}' '{granted.read}'"
        )
        assert command in readme, role
        cells = [f"`{p.replace('|', chr(92) + '|')}`" for p in asdict(granted).values()]
        assert " | ".join(cells) in readme, role


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
