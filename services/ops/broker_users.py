"""Create the four RabbitMQ roles of `services.ops.broker_roles` as users on a broker, one way for
everyone: `gatehouse broker-users apply`, compose's one-shot service and the tests.

Two ways in: `rabbitmqctl` (on the broker's machine; one `import_definitions` with the
passwords on stdin, never the command line) or the management HTTP API (when the plugin is
enabled). Applying is
idempotent: a user that exists gets the given password, and its permissions and topic
permissions are replaced by the definition's, so nothing granted earlier survives.
"""

import json
import secrets
import subprocess
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote, unquote, urlsplit

import httpx

from contracts.topology import Topology
from services.ops.broker_roles import Permission, Role, TopicPermission, roles


@dataclass(frozen=True)
class Grant:
    """One user as `apply` makes it: its password and the rights of its role."""

    user: str
    password: str
    role: Role


class Backend(Protocol):
    def put_users(self, vhost: str, grants: Sequence[Grant]) -> None:
        """Create each user or give it the new password, and replace its permissions and
        topic permissions in `vhost` by its role's."""

    def delete_users(self, users: Sequence[str]) -> None:
        """Delete each user that exists (its permissions go with it)."""


class BrokerUsersError(Exception):
    """The broker refused, or could not be reached; the message says which step."""


class Rabbitmqctl:
    """Through `rabbitmqctl`, which must run where the broker does (or reach its node)."""

    def __init__(self, node: str | None = None) -> None:
        self.node = node
        # Each rabbitmqctl run starts an Erlang VM (a second or two): list the users once.
        self._known: set[str] | None = None

    def _run(
        self, *args: str, stdin: str | None = None, check: bool = True, quote: bool = True
    ) -> str:
        command = ["rabbitmqctl", *(["-n", self.node] if self.node else []), "-q", *args]
        try:
            done = subprocess.run(
                command, input=stdin, capture_output=True, text=True, timeout=60, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BrokerUsersError(f"rabbitmqctl {args[0]}: {type(exc).__name__}") from exc
        if check and done.returncode != 0:
            # rabbitmqctl's own message names the user and vhost; `quote=False` where the
            # input held passwords it might echo.
            said = done.stderr.strip() if quote else f"exit status {done.returncode}"
            raise BrokerUsersError(f"rabbitmqctl {args[0]}: {said}")
        return done.stdout

    def _users(self) -> set[str]:
        if self._known is None:
            listed = json.loads(self._run("list_users", "--formatter", "json") or "[]")
            self._known = {u["user"] for u in listed}
        return self._known

    def put_users(self, vhost: str, grants: Sequence[Grant]) -> None:
        # One run for every user and permission rather than one per step. An import replaces
        # a user's password and vhost permissions but only adds topic permissions: those of
        # a user that exists are cleared first.
        known = self._users()
        for grant in grants:
            if grant.user in known:
                self._run("clear_topic_permissions", "-p", vhost, grant.user)
        definitions = json.dumps(_definitions(vhost, grants))
        self._run("import_definitions", "--format", "json", stdin=definitions, quote=False)
        known.update(grant.user for grant in grants)

    def delete_users(self, users: Sequence[str]) -> None:
        # rabbitmqctl deletes one user a run: the runs go side by side, not one after another.
        with ThreadPoolExecutor(max(len(users), 1)) as runs:
            list(runs.map(lambda user: self._run("delete_user", user, check=False), users))
        if self._known is not None:
            self._known.difference_update(users)


class ManagementApi:
    """Through the management plugin's HTTP API, e.g. `http://guest:guest@rabbitmq:15672`."""

    def __init__(self, url: str, *, transport: httpx.BaseTransport | None = None) -> None:
        parts = urlsplit(url)
        auth = (unquote(parts.username or "guest"), unquote(parts.password or "guest"))
        port = f":{parts.port}" if parts.port else ""
        base = f"{parts.scheme}://{parts.hostname}{port}{parts.path.rstrip('/')}"
        self.client = httpx.Client(
            base_url=f"{base}/api", auth=auth, timeout=30, transport=transport
        )

    def _send(self, method: str, path: str, body: object | None = None) -> None:
        try:
            response = self.client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise BrokerUsersError(f"management API {method} {path}: {exc}") from exc
        if response.status_code >= 400 and not (method == "DELETE" and response.status_code == 404):
            raise BrokerUsersError(f"management API {method} {path}: {response.status_code}")

    def put_users(self, vhost: str, grants: Sequence[Grant]) -> None:
        for grant in grants:
            self._put_user(grant.user, grant.password)
            self._set_permissions(vhost, grant.user, grant.role.permission)
            self._clear_topic_permissions(vhost, grant.user)
            for topic in grant.role.topics:
                self._set_topic_permission(vhost, grant.user, topic)

    def _put_user(self, user: str, password: str) -> None:
        self._send("PUT", f"/users/{quote(user, safe='')}", {"password": password, "tags": ""})

    def _set_permissions(self, vhost: str, user: str, permission: Permission) -> None:
        p = permission
        body = {"configure": p.configure, "write": p.write, "read": p.read}
        self._send("PUT", f"/permissions/{_path(vhost, user)}", body)

    def _clear_topic_permissions(self, vhost: str, user: str) -> None:
        self._send("DELETE", f"/topic-permissions/{_path(vhost, user)}")

    def _set_topic_permission(self, vhost: str, user: str, topic: TopicPermission) -> None:
        body = {"exchange": topic.exchange, "write": topic.write, "read": topic.read}
        self._send(
            "PUT", f"/topic-permissions/{quote(vhost, safe='')}/{quote(user, safe='')}", body
        )

    def delete_users(self, users: Sequence[str]) -> None:
        for user in users:
            self._send("DELETE", f"/users/{quote(user, safe='')}")


def _path(*parts: str) -> str:
    return "/".join(quote(part, safe="") for part in parts)


def _definitions(vhost: str, grants: Sequence[Grant]) -> dict[str, list[dict[str, str]]]:
    """The users and their rights as a RabbitMQ definitions document (`password` in clear:
    the broker hashes it as `add_user` does)."""
    return {
        "users": [{"name": g.user, "password": g.password, "tags": ""} for g in grants],
        "permissions": [
            {
                "user": g.user,
                "vhost": vhost,
                "configure": g.role.permission.configure,
                "write": g.role.permission.write,
                "read": g.role.permission.read,
            }
            for g in grants
        ],
        "topic_permissions": [
            {
                "user": g.user,
                "vhost": vhost,
                "exchange": t.exchange,
                "write": t.write,
                "read": t.read,
            }
            for g in grants
            for t in g.role.topics
        ],
    }


@dataclass(frozen=True)
class Account:
    role: str
    user: str
    password: str

    def amqp_url(self, broker: str) -> str:
        """`broker` (an AMQP URL) signed in as this account."""
        parts = urlsplit(broker)
        host = f"{parts.hostname or 'localhost'}:{parts.port or 5672}"
        netloc = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}@{host}"
        return parts._replace(netloc=netloc).geturl()


def generate_passwords(names: Iterable[str]) -> dict[str, str]:
    return {name: secrets.token_urlsafe(24) for name in names}


def read_password_file(text: str) -> dict[str, str]:
    """`role=password` lines (blank lines and `#` comments skipped)."""
    passwords: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        role, sep, password = line.partition("=")
        if not sep or not password:
            raise BrokerUsersError(f"password file line {number}: expected role=password")
        passwords[role.strip()] = password.strip()
    return passwords


def apply(
    backend: Backend,
    topology: Topology,
    passwords: dict[str, str],
    *,
    prefix: str = "gatehouse",
    vhost: str = "/",
    only: frozenset[str] | None = None,
) -> list[Account]:
    """Create or update one user per role, `<prefix>-<role>`, with the role's permissions
    in `vhost` and nothing else. `passwords` must name every role (every role of `only`,
    when given: a test that needs one user makes one)."""
    defined = {n: r for n, r in roles(topology).items() if only is None or n in only}
    if unknown := set(passwords) - set(defined):
        raise BrokerUsersError(f"no such role: {', '.join(sorted(unknown))}")
    if missing := set(defined) - set(passwords):
        raise BrokerUsersError(f"no password for: {', '.join(sorted(missing))}")
    grants = [Grant(role.user(prefix), passwords[name], role) for name, role in defined.items()]
    backend.put_users(vhost, grants)
    return [Account(name, g.user, g.password) for name, g in zip(defined, grants, strict=True)]


def remove(
    backend: Backend,
    topology: Topology,
    *,
    prefix: str = "gatehouse",
    only: frozenset[str] | None = None,
) -> None:
    """Delete the users `apply` made with `prefix` (their permissions go with them)."""
    backend.delete_users(
        [
            role.user(prefix)
            for name, role in roles(topology).items()
            if only is None or name in only
        ]
    )
