"""`gatehouse users find|list|disable|enable|revoke|delete|require-reset`: the operator
commands (`admin.*.v1`) from a shell.

They are published to the admin exchange as the RabbitMQ user of `GATEHOUSE_AMQP_URL`, which
is also their AMQP `user_id` (the actor in identity's log and audit event): point it at an
operator's credentials (docs/operations/admin.md). Results are rich tables on stdout; a
refusal is one line on stderr and exit status 1.
"""

import argparse
import asyncio
import json
from datetime import datetime
from typing import Any

from aiormq.exceptions import ChannelAccessRefused
from rich.table import Table

from contracts.admin import v1 as admin
from contracts.topology import Command
from gatehouse.rpc import RpcClient, amqp_user
from services.cli.output import console, err
from services.cli.reach import reaching
from services.runtime.settings import Mode, Settings


class Refused(Exception):
    """One line for stderr: why the command did not do what was asked."""


def add(commands: Any) -> None:
    users = commands.add_parser("users", help="find, list, disable and delete user accounts")
    actions = users.add_subparsers(dest="users_command", required=True)

    find = actions.add_parser("find", help="one user, with status and last sign-in")
    by = find.add_mutually_exclusive_group(required=True)
    for field in ("id", "username", "email", "phone"):
        by.add_argument(f"--{field}")
    find.set_defaults(run=_runner(find_user))

    listing = actions.add_parser("list", help="users page by page, oldest first")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--page-token", help="the next page token a listing printed")
    listing.add_argument("--created-after", type=datetime.fromisoformat, metavar="ISO-8601")
    listing.add_argument("--status", choices=[s.value for s in admin.AccountStatus])
    listing.set_defaults(run=_runner(list_users))

    disable = actions.add_parser("disable", help="refuse every sign-in and sign out everywhere")
    disable.add_argument("id", help="the user's public id")
    disable.add_argument("--reason", required=True, help="for the audit trail")
    disable.add_argument("--until", type=datetime.fromisoformat, metavar="ISO-8601")
    disable.set_defaults(run=_runner(disable_user))

    for name, helped, command in (
        ("enable", "end a disable", enable_user),
        ("revoke", "sign the user out everywhere", revoke_sessions),
        ("require-reset", "make the next sign-in reset the password", require_reset),
    ):
        action = actions.add_parser(name, help=helped)
        action.add_argument("id", help="the user's public id")
        action.add_argument("--reason", help="for the audit trail")
        action.set_defaults(run=_runner(command))

    delete = actions.add_parser("delete", help="delete the user and all their data")
    delete.add_argument("id", help="the user's public id")
    delete.add_argument("--reason", required=True, help="for the audit trail")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(run=_runner(delete_user))
    users.set_defaults(mode=Mode.prod)


def _runner(action: Any) -> Any:
    def run(args: argparse.Namespace, settings: Settings) -> int:
        try:
            return asyncio.run(_with_client(settings, action, args))
        except Refused as refused:
            err.print(f"gatehouse: {refused}", highlight=False, soft_wrap=True)
            return 1

    return run


async def _with_client(settings: Settings, action: Any, args: argparse.Namespace) -> int:
    url = settings.amqp_url.get_secret_value()
    rpc = RpcClient(
        url, settings.topology, exchange=settings.topology.admin, user_id=amqp_user(url)
    )
    async with reaching("broker", url):
        await rpc.connect()
    try:
        await action(_Admin(rpc, settings, amqp_user(url)), args)
    finally:
        await rpc.close()
    return 0


class _Admin:
    def __init__(self, rpc: RpcClient, settings: Settings, user: str) -> None:
        self.rpc, self.settings, self.user = rpc, settings, user

    async def call(self, command: Command[Any, Any], body: dict[str, Any]) -> dict[str, Any]:
        request = {k: v for k, v in body.items() if v is not None}
        try:
            reply = await self.rpc.call(command, json.loads(json.dumps(request, default=str)))
        except ChannelAccessRefused:
            raise Refused(
                f"the RabbitMQ user {self.user!r} may not publish to"
                f" {self.settings.topology.admin}: use an operator's credentials in"
                " GATEHOUSE_AMQP_URL"
            ) from None
        if not reply["ok"]:
            error = reply["error"]
            hint = " (is the identity service running?)" if error["code"] in _UNANSWERED else ""
            raise Refused(f"{error['code']}: {error['message']}{hint}")
        result: dict[str, Any] = reply["result"]
        return result


_UNANSWERED = {"unknown_command", "timeout"}
_COLUMNS = ("id", "username", "email", "phone", "status", "created_at", "last_login_at")


def _when(value: Any) -> str:
    return "-" if value is None else str(value).replace("T", " ")[:19]


def _show_user(user: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    shown = (*_COLUMNS[:5], "disabled_until", "disabled_reason", "password_reset_required")
    for field in (*shown, "email_verified", "phone_verified", "mfa_enabled", *_COLUMNS[5:]):
        value = user.get(field)
        text = _when(value) if field.endswith(("_at", "_until")) else str(value)
        table.add_row(field, "-" if value is None else text)
    console.print(table)


async def find_user(client: _Admin, args: argparse.Namespace) -> None:
    query = {f: getattr(args, f) for f in ("id", "username", "email", "phone")}
    _show_user((await client.call(admin.find_user, query))["user"])


async def list_users(client: _Admin, args: argparse.Namespace) -> None:
    page = await client.call(
        admin.list_users,
        {
            "limit": args.limit,
            "page_token": args.page_token,
            "created_after": args.created_after,
            "status": args.status,
        },
    )
    table = Table(*_COLUMNS)
    for user in page["users"]:
        table.add_row(
            *(_when(user[c]) if c.endswith("_at") else str(user[c] or "-") for c in _COLUMNS)
        )
    console.print(table)
    if page["next_page_token"]:
        console.print(f"next page: --page-token {page['next_page_token']}", soft_wrap=True)


async def disable_user(client: _Admin, args: argparse.Namespace) -> None:
    body = {"id": args.id, "reason": args.reason, "until": args.until}
    _show_user((await client.call(admin.disable_user, body))["user"])


async def enable_user(client: _Admin, args: argparse.Namespace) -> None:
    body = {"id": args.id, "reason": args.reason}
    _show_user((await client.call(admin.enable_user, body))["user"])


async def require_reset(client: _Admin, args: argparse.Namespace) -> None:
    body = {"id": args.id, "reason": args.reason}
    _show_user((await client.call(admin.set_password_required, body))["user"])


async def revoke_sessions(client: _Admin, args: argparse.Namespace) -> None:
    body = {"id": args.id, "reason": args.reason}
    revoked = (await client.call(admin.revoke_sessions, body))["revoked_session_ids"]
    console.print(f"revoked {len(revoked)} session(s) of {args.id}")


async def delete_user(client: _Admin, args: argparse.Namespace) -> None:
    if not args.yes:
        _show_user((await client.call(admin.find_user, {"id": args.id}))["user"])
        if not _confirmed(args.id):
            raise Refused("nothing deleted")
    await client.call(admin.delete_user, {"id": args.id, "reason": args.reason})
    console.print(f"deleted {args.id} and all their data")


def _confirmed(user_id: str) -> bool:
    # Typing the id, not `y`: a pasted id from the wrong line would otherwise go for good.
    try:
        answer = input(f"This deletes the account for good. Type its id ({user_id}): ")
    except EOFError:
        return False
    return answer.strip() == user_id
