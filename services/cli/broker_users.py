"""`gatehouse broker-users apply|show`: the four RabbitMQ roles (services.ops.broker_roles) as
users."""

import argparse
import sys
from pathlib import Path
from typing import Any

from services.ops import broker_users
from services.ops.broker_roles import rabbitmqctl_commands, roles
from services.runtime.settings import Mode, Settings


def add(commands: Any) -> None:
    group = commands.add_parser(
        "broker-users", help="create the RabbitMQ users of the four roles (docs: Who may do what)"
    )
    actions = group.add_subparsers(dest="broker_users_command", required=True)
    apply = actions.add_parser(
        "apply",
        help="create or update <prefix>-services, -workers, -callers, -admins with exactly "
        "the permissions of their role for GATEHOUSE_NAMESPACE",
    )
    passwords = apply.add_mutually_exclusive_group(required=True)
    passwords.add_argument(
        "--password-file",
        type=Path,
        help="role=password lines, one per role (services, workers, callers, admins)",
    )
    passwords.add_argument(
        "--generate",
        action="store_true",
        help="make random passwords and print them once (they are not kept anywhere)",
    )
    apply.add_argument("--vhost", default="/")
    apply.add_argument("--user-prefix", default="gatehouse", help="users are <prefix>-<role>")
    apply.add_argument(
        "--management-url",
        help="use the management HTTP API at this URL (http://user:pass@host:15672) instead "
        "of rabbitmqctl",
    )
    apply.add_argument("--node", help="rabbitmqctl's -n: the broker node to reach")
    apply.set_defaults(run=run_apply, mode=Mode.prod)
    show = actions.add_parser("show", help="print rabbitmqctl commands that do what apply does")
    show.add_argument("--vhost", default="/")
    show.add_argument("--user-prefix", default="gatehouse")
    show.set_defaults(run=run_show, mode=Mode.prod)


def backend(management_url: str | None, node: str | None) -> broker_users.Backend:
    if management_url:
        return broker_users.ManagementApi(management_url)
    return broker_users.Rabbitmqctl(node)


def run_apply(args: argparse.Namespace, settings: Settings) -> int:
    topology = settings.topology
    try:
        if args.generate:
            passwords = broker_users.generate_passwords(roles(topology))
        else:
            passwords = broker_users.read_password_file(args.password_file.read_text())
        accounts = broker_users.apply(
            backend(args.management_url, args.node),
            topology,
            passwords,
            prefix=args.user_prefix,
            vhost=args.vhost,
        )
    except (OSError, broker_users.BrokerUsersError) as exc:
        print(f"gatehouse: {exc}", file=sys.stderr)
        return 1
    for account in accounts:
        line = f"{account.user}: {account.role} role, namespace {settings.namespace}"
        print(f"{line}, password {account.password}" if args.generate else line)
    if args.generate:
        print("These passwords are shown once and kept nowhere: store them now.")
    return 0


def run_show(args: argparse.Namespace, settings: Settings) -> int:
    print(rabbitmqctl_commands(settings.topology, args.user_prefix, args.vhost))
    return 0
