"""`gatehouse broker-users` through the management HTTP API (the rabbitmqctl way runs on the
real broker in tests/integration/test_rabbitmq_permissions.py): the requests it makes."""

import json

import httpx
import pytest

from contracts.topology import Topology
from services.ops import broker_users
from services.ops.broker_roles import roles


def test_apply_through_the_management_api_sets_each_role_and_nothing_more():
    seen: list[tuple[str, str, dict | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        seen.append((request.method, request.url.raw_path.decode(), body))
        assert request.headers["authorization"].startswith("Basic ")
        return httpx.Response(204 if request.method == "PUT" else 404)

    api = broker_users.ManagementApi(
        "http://ops:pw@rabbit:15672", transport=httpx.MockTransport(handler)
    )
    topology = Topology("gh")
    passwords = broker_users.generate_passwords(roles(topology))
    accounts = broker_users.apply(api, topology, passwords, prefix="t", vhost="/")
    assert [a.user for a in accounts] == ["t-services", "t-workers", "t-callers", "t-admins"]
    users = [(path, body) for method, path, body in seen if path.startswith("/api/users/")]
    assert users == [
        (f"/api/users/t-{role}", {"password": passwords[role], "tags": ""}) for role in passwords
    ]
    workers = roles(topology)["workers"]
    granted = [body for _, path, body in seen if path == "/api/permissions/%2F/t-workers"]
    assert granted == [
        {"configure": workers.permission.configure, "write": workers.permission.write,
         "read": workers.permission.read}
    ]  # fmt: skip
    topics = [(m, b) for m, path, b in seen if path == "/api/topic-permissions/%2F/t-workers"]
    assert topics[0] == ("DELETE", None)  # what was granted before goes first
    assert [b for _, b in topics[1:]] == [
        {"exchange": t.exchange, "write": t.write, "read": t.read} for t in workers.topics
    ]


def test_apply_wants_a_password_for_every_role_and_no_other():
    topology = Topology()
    with pytest.raises(broker_users.BrokerUsersError, match="no password for: workers"):
        broker_users.apply(
            broker_users.Rabbitmqctl(), topology, {"services": "a", "callers": "b", "admins": "c"}
        )
    with pytest.raises(broker_users.BrokerUsersError, match="no such role: root"):
        broker_users.apply(broker_users.Rabbitmqctl(), topology, {"root": "x"})


def test_the_password_file_is_role_equals_password():
    text = "# dev\nservices=a\n\nworkers = b=c\n"
    assert broker_users.read_password_file(text) == {"services": "a", "workers": "b=c"}
    with pytest.raises(broker_users.BrokerUsersError, match="line 1"):
        broker_users.read_password_file("services")


def test_an_account_signs_in_to_the_broker_url_with_its_password_quoted():
    account = broker_users.Account("workers", "gatehouse-workers", "p@ss/word")
    assert (
        account.amqp_url("amqp://guest:guest@rabbit:5672/vh")
        == "amqp://gatehouse-workers:p%40ss%2Fword@rabbit:5672/vh"
    )
