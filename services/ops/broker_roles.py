"""Who may do what on the broker: Gatehouse's four RabbitMQ roles, defined once.

`gatehouse broker-users` creates them (services.ops.broker_users), deploy/k8s declares them, the
tests create them as throwaway users, and the documentation's "Who may do what" page
(`DOCS_PAGE`) is generated from here (`docs_section`); tests hold all of them to this module.

RabbitMQ matches each pattern against the name of the queue or exchange an operation touches:
declaring or deleting needs configure on it; publishing, write on the exchange; consuming,
read on the queue; binding, write on the queue and read on the exchange; declaring a queue
whose dead letters go to an exchange, write on that exchange. Topic permissions (per topic
exchange) match the routing key on publish (write) and the binding key on bind (read); where a
user has none for an exchange, every key is allowed. Passive declares and consuming direct
reply-to need nothing; publishing a reply to a direct reply-to address needs write on
`amq.default`, which reaches every queue by name.

What these patterns cannot say, the services check themselves (services.runtime.commands): an
admin, internal or workers command is taken only through its own exchange, an admin command
only from a user of GATEHOUSE_ADMIN_USERS.
"""

import re
from dataclasses import astuple, dataclass

from contracts.catalog import COMMANDS
from contracts.topology import (
    ADMIN,
    CHANNEL_QUEUES,
    DEFAULT_NAMESPACE,
    HOOK_QUEUES,
    WORKERS,
    Topology,
)

DEFAULT_EXCHANGE = "amq.default"
# Server-named queues (`queue.declare` with an empty name): a caller's own temporary queues.
SERVER_NAMED = r"amq\.gen-.*"
NOTHING = "^$"


@dataclass(frozen=True)
class Permission:
    """One RabbitMQ user's permissions in a vhost: a regular expression per operation
    (`rabbitmqctl set_permissions <user> <configure> <write> <read>`)."""

    configure: str
    write: str
    read: str


@dataclass(frozen=True)
class TopicPermission:
    """Routing keys a user may publish (write) and bind (read) on one topic exchange
    (`rabbitmqctl set_topic_permissions <user> <exchange> <write> <read>`)."""

    exchange: str
    write: str
    read: str


@dataclass(frozen=True)
class Role:
    name: str
    who: str
    permission: Permission
    topics: tuple[TopicPermission, ...]
    # What the services refuse by themselves, beyond the patterns.
    checked: str
    # The attack the role's limits stop.
    stops: str

    def user(self, prefix: str = "gatehouse") -> str:
        return f"{prefix}-{self.name}"


def _alternatives(*patterns: str) -> str:
    return f"^({'|'.join(patterns)})$" if len(patterns) > 1 else f"^{patterns[0]}$"


def roles(topology: Topology) -> dict[str, Role]:
    """The four roles of a deployment whose services run in `topology`'s namespace."""
    ns = re.escape(topology.namespace)
    esc = re.escape
    commands, admin, events = esc(topology.commands), esc(topology.admin), esc(topology.events)
    hook_queues = rf"{ns}\.{HOOK_QUEUES}\..*"
    channel_queues = rf"{ns}\.{CHANNEL_QUEUES}\..*"
    announcements = [esc(c.routing_key) for c in COMMANDS if c.exchange == WORKERS]
    callers = Permission(
        configure=f"^{SERVER_NAMED}$",
        write=_alternatives(commands, SERVER_NAMED),
        read=_alternatives(events, SERVER_NAMED),
    )
    return {
        "services": Role(
            "services",
            "identity, verification, notifier",
            Permission(
                configure=rf"^{ns}\..*$",
                write=rf"^({ns}\.(?!{esc(ADMIN)}$).*|{esc(DEFAULT_EXCHANGE)})$",
                read=rf"^{ns}\..*$",
            ),
            (),
            "an admin command is refused (`forbidden`) unless it came through the admin "
            "exchange from an admin user, so write on `amq.default` reaches no admin queue",
            "stolen service credentials running operator commands",
        ),
        "workers": Role(
            "workers",
            "hook and custom channel workers (customer code)",
            Permission(
                configure=f"^{hook_queues}$",
                write=_alternatives(esc(topology.workers), hook_queues),
                read=_alternatives(esc(topology.hooks), hook_queues, channel_queues),
            ),
            (
                TopicPermission(
                    topology.workers,
                    _alternatives(*announcements, rf"{esc(topology.hook_replies_prefix)}[0-9a-f]+"),
                    NOTHING,
                ),
                # Exact keys only: no `#` or `*` binding catches every hook call.
                TopicPermission(
                    topology.hooks, NOTHING, r"^hooks\.[a-z0-9_]+\.v[0-9]+\.[0-9]{3}\.[a-z0-9_-]+$"
                ),
                # Workers bind nothing to the delivery exchange (verification binds their
                # queues); should read be widened, still never `email` or `sms`.
                TopicPermission(topology.delivery, NOTHING, r"^custom\.[a-z0-9_-]+$"),
            ),
            "announcements are taken only through the workers exchange; hook replies only "
            "from identity's own reply queue; a new hook or channel name beyond the caps is "
            "refused",
            "a hook reading passwords from `identity.login.v1`, answering `check_code` or "
            "`jwks`, forging events, binding to `email` to read every code, or calling "
            "commands at all",
        ),
        "callers": Role(
            "callers",
            "your services: call commands, follow events",
            callers,
            (),
            "sign-in and recovery codes are redeemed only by identity (`redeem_code` on the "
            "internal exchange); the public `check_code` refuses them",
            "a caller announcing or re-prioritising hooks and channels, or sending internal "
            "commands",
        ),
        "admins": Role(
            "admins",
            "operators: `gatehouse users ...`",
            Permission(
                configure=callers.configure,
                write=_alternatives(commands, admin, SERVER_NAMED),
                read=callers.read,
            ),
            (),
            "the user must also be in `GATEHOUSE_ADMIN_USERS`; each call is logged and "
            "audited with it",
            "anyone else reaching operator commands",
        ),
    }


def permissions(topology: Topology) -> dict[str, Permission]:
    """Each role's vhost permissions (`roles` has the rest)."""
    return {name: role.permission for name, role in roles(topology).items()}


# --- The documentation's "Who may do what", generated -------------------------------------

DOCS_PAGE = "docs/operations/broker-users.md"
SECTION_BEGIN = "<!-- generated by services/ops/broker_roles.py: docs_section(); do not edit -->"
SECTION_END = "<!-- end of generated section -->"


def _targets(topology: Topology) -> list[tuple[str, str]]:
    """(what the page calls it, a name RabbitMQ would match) for the matrix."""
    t = topology
    return [
        (f"`{t.commands}`", t.commands),
        (f"`{t.admin}`", t.admin),
        (f"`{t.internal}`", t.internal),
        (f"`{t.workers}`", t.workers),
        (f"`{t.events}`", t.events),
        (f"`{t.delivery}`", t.delivery),
        (f"`{t.hooks}`", t.hooks),
        (f"`{t.dead_letter}`", t.dead_letter),
        (f"`{DEFAULT_EXCHANGE}` (any queue by name)", DEFAULT_EXCHANGE),
        (
            f"`{t.command_queue('identity.login.v1')}` (every command queue)",
            t.command_queue("identity.login.v1"),
        ),
        (f"`{t.hook_queue('<trigger>', '<name>')}`", t.hook_queue("post_login", "x")),
        (f"`{t.channel_queue('<name>')}` and its `.dlq`", t.channel_queue("x")),
        ("`amq.gen-*` (server-named)", "amq.gen-x"),
    ]


def _cell(permission: Permission, name: str) -> str:
    granted = [
        op
        for op, pattern in (
            ("configure", permission.configure),
            ("write", permission.write),
            ("read", permission.read),
        )
        if re.search(pattern, name)
    ]
    return ", ".join(granted) or "—"


def _pattern(text: str) -> str:
    return "`" + text.replace("|", "\\|") + "`"


def rabbitmqctl_commands(topology: Topology, prefix: str = "gatehouse", vhost: str = "/") -> str:
    lines = []
    for role in roles(topology).values():
        user, p = role.user(prefix), role.permission
        lines.append(f"rabbitmqctl add_user {user}  # reads the password from stdin")
        lines.append(
            f"rabbitmqctl set_permissions -p {vhost} {user} '{p.configure}' '{p.write}' '{p.read}'"
        )
        for topic in role.topics:
            lines.append(
                f"rabbitmqctl set_topic_permissions -p {vhost} {user} {topic.exchange}"
                f" '{topic.write}' '{topic.read}'"
            )
    return "\n".join(lines)


def docs_section(topology: Topology | None = None) -> str:
    """The generated part of `DOCS_PAGE` (for the default namespace)."""
    topology = topology or Topology(DEFAULT_NAMESPACE)
    all_roles = roles(topology)
    out = [SECTION_BEGIN, "", "| exchange or queue | " + " | ".join(all_roles) + " |"]
    out.append("|---" * (len(all_roles) + 1) + "|")
    for label, name in _targets(topology):
        cells = [_cell(role.permission, name) for role in all_roles.values()]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    out += [
        "",
        "| role (user) | who | the services check themselves | stops |",
        "|---|---|---|---|",
    ]
    for role in all_roles.values():
        out.append(f"| `{role.user()}` | {role.who} | {role.checked} | {role.stops} |")
    out += ["", "| user | configure | write | read |", "|---|---|---|---|"]
    for role in all_roles.values():
        patterns = [_pattern(p) for p in astuple(role.permission)]
        out.append(f"| `{role.user()}` | " + " | ".join(patterns) + " |")
    out += ["", "| user | topic exchange | write (routing keys) | read (binding keys) |"]
    out.append("|---|---|---|---|")
    for role in all_roles.values():
        for topic in role.topics:
            out.append(
                f"| `{role.user()}` | `{topic.exchange}` | {_pattern(topic.write)} |"
                f" {_pattern(topic.read)} |"
            )
    out += ["", "```sh", rabbitmqctl_commands(topology), "```", "", SECTION_END]
    return "\n".join(out)
