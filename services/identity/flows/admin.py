"""Operator commands (`admin.*.v1`, on the admin exchange): find and list users, disable and
enable them, sign them out everywhere, delete them, make their next sign-in a password reset.

Each change locks the user row first (`store.admin.lock`), which a sign-in waits for and is
waited for by, then writes its state, its event and the audit event in one transaction. The
actor is the AMQP `user_id` of the command (`services.runtime.caller`; the runtime refuses an
admin command without one and logs each with it).
"""

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any, Literal

from contracts.admin import v1 as admin
from contracts.errors import ErrorCode
from contracts.events import v1 as events
from contracts.identity.v1 import Done
from gatehouse.errors import InvalidParams
from services.identity import store
from services.identity.domain import IdentityError
from services.identity.service import IdentityService
from services.identity.store.rows import User
from services.identity.views import admin_view
from services.runtime import caller
from services.runtime.db import Connection
from services.runtime.work import UnitOfWork


def _not_found() -> IdentityError:
    return IdentityError("no such user", code=ErrorCode.not_found)


async def _audit(
    identity: IdentityService,
    con: Connection,
    action: str,
    target: str | None,
    reason: str | None = None,
    **details: Any,
) -> None:
    taken = events.AdminActionTaken(
        actor=caller.get() or "unknown",
        action=action,
        target_user_id=target,
        reason=reason,
        details={k: v for k, v in details.items() if v is not None},
    )
    await identity.emit(con, events.admin_action_taken, taken, target)


async def _locked(con: Connection, public_id: str) -> User:
    user = await store.admin.lock(con, public_id)
    if user is None:
        raise _not_found()
    return user


async def find_user(
    identity: IdentityService, uow: UnitOfWork, request: admin.FindUser
) -> admin.AdminUserResult:
    given = [f for f in ("id", "username", "email", "phone") if getattr(request, f) is not None]
    if len(given) != 1:
        raise InvalidParams(
            given[0] if given else "id", "give exactly one of id, username, email or phone"
        )
    if request.id is not None:
        user = await store.admin.by_public_id(identity.pool, request.id)
    else:
        ident = identity.any_ident(request.username, request.email, request.phone)
        user = await store.users.find_user(identity.pool, ident)
    if user is None:
        raise _not_found()
    async with uow.transaction() as con:
        await _audit(identity, con, "find_user", user.public_id, by=given[0])
        return await uow.commit(admin.AdminUserResult(user=admin_view(user)))


def page_token(user: User) -> str:
    """Where the next page starts: after this user, in (created_at, public_id) order."""
    cursor = json.dumps([user.created_at.isoformat(), user.public_id])
    return base64.urlsafe_b64encode(cursor.encode()).decode().rstrip("=")


def _cursor(token: str | None) -> tuple[datetime, str] | None:
    if token is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        created_at, public_id = json.loads(raw)
        return datetime.fromisoformat(created_at), str(public_id)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidParams("page_token", "not a page token of list_users") from None


async def list_users(
    identity: IdentityService, uow: UnitOfWork, request: admin.ListUsers
) -> admin.UserPage:
    disabled = None if request.status is None else request.status is admin.AccountStatus.disabled
    rows = await store.admin.list_users(
        identity.pool,
        _cursor(request.page_token),
        request.limit + 1,  # one more: is there a next page?
        request.created_after,
        disabled,
    )
    page = rows[: request.limit]
    following = page_token(page[-1]) if len(rows) > request.limit else None
    async with uow.transaction() as con:
        await _audit(
            identity,
            con,
            "list_users",
            None,
            limit=request.limit,
            status=request.status,
            created_after=request.created_after.isoformat() if request.created_after else None,
            returned=len(page),
        )
        return await uow.commit(
            admin.UserPage(users=[admin_view(r) for r in page], next_page_token=following)
        )


async def _sign_out(con: Connection, user_id: int) -> list[str]:
    """Every session, remember token and pending two-factor sign-in of the user."""
    revoked = await store.sessions.revoke_sessions(con, user_id)
    await store.sessions.revoke_challenges(con, user_id)
    return revoked


async def disable_user(
    identity: IdentityService, uow: UnitOfWork, request: admin.DisableUser
) -> admin.AdminUserResult:
    if request.until is not None and request.until <= datetime.now(UTC):
        raise InvalidParams("until", "must be in the future")
    async with uow.transaction() as con:
        user = await _locked(con, request.id)
        user = await store.admin.disable(con, user.id, request.reason, request.until)
        revoked = await _sign_out(con, user.id)
        # A reset token mailed before is a way back in waiting in a mailbox, perhaps an
        # intruder's: the owner asks for a new one (docs/operations/admin.md).
        await store.challenges.end_pending(con, user.id)
        subject = user.public_id
        disabled = events.UserDisabled(
            user_id=subject, until=request.until, revoked_session_ids=revoked
        )
        await identity.emit(con, events.user_disabled, disabled, subject)
        until = request.until.isoformat() if request.until else None
        await _audit(identity, con, "disable_user", subject, request.reason, until=until)
        return await uow.commit(admin.AdminUserResult(user=admin_view(user)))


async def enable_user(
    identity: IdentityService, uow: UnitOfWork, request: admin.EnableUser
) -> admin.AdminUserResult:
    async with uow.transaction() as con:
        user = await _locked(con, request.id)
        # Compare-and-set under the row lock: of two operators enabling at once, one emits.
        if user.disabled_at is not None:
            user = await store.admin.enable(con, user.id)
            enabled = events.UserEnabled(user_id=user.public_id)
            await identity.emit(con, events.user_enabled, enabled, user.public_id)
        await _audit(identity, con, "enable_user", user.public_id, request.reason)
        return await uow.commit(admin.AdminUserResult(user=admin_view(user)))


async def revoke_sessions(
    identity: IdentityService, uow: UnitOfWork, request: admin.RevokeSessions
) -> admin.SessionsRevoked:
    async with uow.transaction() as con:
        user = await _locked(con, request.id)
        revoked = await _sign_out(con, user.id)
        await _revoked(identity, con, user, revoked, "admin")
        await _audit(identity, con, "revoke_sessions", user.public_id, request.reason)
        return await uow.commit(admin.SessionsRevoked(revoked_session_ids=revoked))


async def _revoked(
    identity: IdentityService,
    con: Connection,
    user: User,
    revoked: list[str],
    cause: Literal["admin", "password_reset_required"],
) -> None:
    data = events.UserSessionsRevoked(
        user_id=user.public_id, cause=cause, revoked_session_ids=revoked
    )
    await identity.emit(con, events.user_sessions_revoked, data, user.public_id)


async def set_password_required(
    identity: IdentityService, uow: UnitOfWork, request: admin.SetPasswordRequired
) -> admin.AdminUserResult:
    async with uow.transaction() as con:
        user = await _locked(con, request.id)
        user = await store.admin.require_password_reset(con, user.id)
        # What the old password opened is not trusted either; reset tokens stay: they are
        # the way back in.
        revoked = await _sign_out(con, user.id)
        await _revoked(identity, con, user, revoked, "password_reset_required")
        await _audit(identity, con, "set_password_required", user.public_id, request.reason)
        return await uow.commit(admin.AdminUserResult(user=admin_view(user)))


async def delete_user(
    identity: IdentityService, uow: UnitOfWork, request: admin.DeleteUser
) -> Done:
    async with uow.transaction() as con:
        user = await _locked(con, request.id)
        await identity.delete_user(con, user.id)
        await _audit(identity, con, "delete_user", user.public_id, request.reason)
        return await uow.commit(Done())
