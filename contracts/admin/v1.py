"""Operator commands, version 1: find, list, disable, enable, sign out and delete accounts.

They travel on an exchange of their own, `<ns>.admin` (routing keys `admin.<command>.v1`),
with the same envelope and RPC as every command, so that RabbitMQ's permissions can let only
trusted users publish them. Identity answers them. Each must carry the AMQP `user_id`
property: RabbitMQ checks it is the user the publishing connection signed in as, and it names
the actor in the service's log line and in the `admin.action_taken.v1` audit event.
"""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field

from contracts.envelope import Contract
from contracts.errors import ErrorCode
from contracts.identity.v1.fields import Email, Phone, Username
from contracts.identity.v1.views import Done, User
from contracts.topology import ADMIN, Command, Req, Res

SERVICE = "admin"

PublicId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        description="The user's public id (`user.id` in replies, `user_id` in events).",
        examples=["u_8Zk3fQ2b9xW1"],
    ),
]
Reason = Annotated[
    str,
    Field(
        min_length=1,
        max_length=500,
        description="Why, for the audit trail (`admin.action_taken.v1`); never shown to the user.",
        examples=["spam reported by three users"],
    ),
]


class AccountStatus(StrEnum):
    active = "active"
    disabled = "disabled"


class AdminUser(User):
    """The user view, plus what only an operator sees: the account's standing and last sign-in."""

    status: AccountStatus = Field(
        description="`disabled` while a disable is in force (until `disabled_until`, if set).",
        examples=["active"],
    )
    disabled_at: datetime | None = Field(None, description="When it was last disabled.")
    disabled_until: datetime | None = Field(
        None, description="When a disable ends by itself; null with `disabled`: until enabled."
    )
    disabled_reason: str | None = Field(None, description="The `reason` of `disable_user`.")
    password_reset_required: bool = Field(
        False, description="The next sign-in must reset the password first."
    )
    last_login_at: datetime | None = Field(None, description="When a session was last opened.")


class AdminUserResult(Contract):
    user: AdminUser


class FindUser(Contract):
    """Exactly one of id, username, email, phone (emails and phones are normalised first)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"email": "ada@example.com"}]})

    id: PublicId | None = None
    username: Username | None = None
    email: Email | None = None
    phone: Phone | None = None


class ListUsers(Contract):
    """Oldest first (by creation time, then id); `next_page_token` continues after the last."""

    page_token: str | None = Field(
        None,
        max_length=400,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The `next_page_token` of the previous page.",
        examples=["WyIyMDI2LTAxLTAxVDEyOjAwOjAwWiIsInVfOFprMyJd"],
    )
    limit: int = Field(50, ge=1, le=500, description="Users per page.", examples=[50])
    created_after: datetime | None = Field(None, examples=["2026-01-01T00:00:00Z"])
    status: AccountStatus | None = Field(None, description="Only users of this status.")


class UserPage(Contract):
    users: list[AdminUser]
    next_page_token: str | None = Field(
        None, description="Null on the last page.", examples=["WyIyMDI2LTAxLTAxVDEyOjAwOjAwWiJd"]
    )


class DisableUser(Contract):
    """Refuses every sign-in with `account_disabled` until `until` (or until `enable_user`),
    and revokes at once the user's sessions, remember tokens, pending two-factor sign-ins and
    outstanding password reset tokens."""

    id: PublicId
    reason: Reason
    until: datetime | None = Field(
        None, description="In the future; without it, until `enable_user`.", examples=[None]
    )


class EnableUser(Contract):
    id: PublicId
    reason: Reason | None = None


class RevokeSessions(Contract):
    """Signs the user out everywhere: sessions, remember tokens, pending two-factor sign-ins."""

    id: PublicId
    reason: Reason | None = None


class SessionsRevoked(Contract):
    model_config = ConfigDict(json_schema_extra={"examples": [{"revoked_session_ids": ["s_41Qa"]}]})

    revoked_session_ids: list[str] = Field(
        description="Public ids of the sessions revoked (the `sid` of their access tokens)."
    )


class DeleteUser(Contract):
    """Deletes the user and all their data, as `deregister` does, with `user.deregistered.v1`."""

    id: PublicId
    reason: Reason


class SetPasswordRequired(Contract):
    """The next sign-in must reset the password: until then every sign-in answers
    `password_reset_required` (after the credentials checked out). Signs the user out
    everywhere; outstanding reset tokens stay valid, they are the way back in."""

    id: PublicId
    reason: Reason | None = None


def _admin(
    name: str, request: type[Req], result: type[Res], summary: str, *errors: ErrorCode
) -> Command[Req, Res]:
    return Command(
        SERVICE,
        name,
        1,
        request,
        result,
        summary,
        errors=(ErrorCode.invalid_params, *errors),
        exchange=ADMIN,
    )


find_user = _admin(
    "find_user",
    FindUser,
    AdminUserResult,
    "One user by id, username, email or phone, with status and last sign-in.",
    ErrorCode.not_found,
)
list_users = _admin(
    "list_users", ListUsers, UserPage, "Users page by page (keyset pagination), oldest first."
)
disable_user = _admin(
    "disable_user",
    DisableUser,
    AdminUserResult,
    "Refuse every sign-in (until a date, or until enabled) and revoke the user's sessions.",
    ErrorCode.not_found,
)
enable_user = _admin(
    "enable_user", EnableUser, AdminUserResult, "End a disable.", ErrorCode.not_found
)
revoke_sessions = _admin(
    "revoke_sessions",
    RevokeSessions,
    SessionsRevoked,
    "Sign the user out everywhere.",
    ErrorCode.not_found,
)
delete_user = _admin(
    "delete_user",
    DeleteUser,
    Done,
    "Delete the user and all their data, as deregister does.",
    ErrorCode.not_found,
)
set_password_required = _admin(
    "set_password_required",
    SetPasswordRequired,
    AdminUserResult,
    "Make the next sign-in reset the password first; signs the user out everywhere.",
    ErrorCode.not_found,
)

COMMANDS = (
    find_user,
    list_users,
    disable_user,
    enable_user,
    revoke_sessions,
    delete_user,
    set_password_required,
)
