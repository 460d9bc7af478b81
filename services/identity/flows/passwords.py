"""Reset (code or mailed token) and change a password. Each revokes the other sessions."""

import asyncio
from typing import Literal

import asyncpg

from contracts.errors import ErrorCode
from contracts.events import v1 as events
from contracts.identity import v1
from contracts.notifier import v1 as notifier
from contracts.verification.v1 import Scenario
from services.identity import domain, store
from services.identity.context import Identity
from services.identity.domain import IdentityError

_background: set[asyncio.Task[None]] = set()


async def reset_password(identity: Identity, request: v1.ResetPassword) -> v1.Done:
    ident = identity.contact_ident(request.email, request.phone)
    domain.check_password(request.new_password, identity.policy, "new_password")
    await identity.check_code(ident, Scenario.reset_password, request.code)
    new_hash = await identity.hasher.hash(request.new_password)
    async with identity.pool.acquire() as con, con.transaction():
        user = await store.find_user(con, ident)
        if user is None:
            # Only the owner of the contact gets here (the code proved it), so saying so
            # tells nobody else anything.
            raise IdentityError(
                f"no account uses this {ident.kind.value}", code=ErrorCode.not_found
            )
        await _reset(identity, con, user, new_hash, "code")
    return v1.Done()


async def change_password(identity: Identity, request: v1.ChangePassword) -> v1.Done:
    domain.check_password(request.new_password, identity.policy, "new_password")
    current = await identity.current(request.token)
    async with identity.pool.acquire() as con:
        row = await store.lock_user(con, current["id"])
    matches, _ = await identity.hasher.verify(request.old_password, row["password_hash"])
    if not matches:
        raise domain.invalid_credentials()
    new_hash = await identity.hasher.hash(request.new_password)
    async with identity.pool.acquire() as con, con.transaction():
        await _set_password(con, current, new_hash, keep_session=current["session_id"])
        await identity.emit(
            con,
            events.user_password_changed,
            events.UserPasswordChanged(user_id=current["public_id"]),
            current["public_id"],
        )
    return v1.Done()


async def _reset(
    identity: Identity,
    con: asyncpg.Connection,
    user: asyncpg.Record,
    new_hash: str,
    method: Literal["code", "token"],
) -> None:
    """A reset, by code or by mailed token: every session goes, `user.password_reset` says how."""
    await _set_password(con, user, new_hash, keep_session=None)
    await identity.emit(
        con,
        events.user_password_reset,
        events.UserPasswordReset(user_id=user["public_id"], method=method),
        user["public_id"],
    )


async def _set_password(
    con: asyncpg.Connection, user: asyncpg.Record, new_hash: str, keep_session: str | None
) -> None:
    await store.set_password(con, user["id"], new_hash)
    await store.revoke_sessions(con, user["id"], keep_session)


async def send_password_reset_token(
    identity: Identity, request: v1.SendPasswordResetToken
) -> v1.Done:
    """The same reply, at about the same time, whether or not the user exists: the mail
    goes out in the background."""
    ident = identity.any_ident(request)
    user = await store.find_user(identity.pool, ident)
    if user is None:
        return v1.Done()
    address = _mail_address(identity, user)
    if address is None:
        identity.log.info("no address to mail a password reset token to for %s", user["public_id"])
        return v1.Done()
    token = domain.new_token()
    await store.store_reset_token(
        identity.pool, user["id"], domain.token_digest(token), identity.policy.reset_token_ttl
    )
    message = notifier.Send(
        channel=notifier.Channel.email,
        to=address,
        template=identity.settings.reset_token_template,
        data={"password_reset_token": token},
    )
    task = asyncio.create_task(_mail(identity, message, user["public_id"]))
    _background.add(task)
    task.add_done_callback(_background.discard)
    return v1.Done()


def _mail_address(identity: Identity, user) -> str | None:  # type: ignore[no-untyped-def]
    name = identity.settings.reset_token_email_property
    if name == "email":
        return user["email"]
    value = store.properties_of(user).get(name)
    return value if isinstance(value, str) and "@" in value else None


async def _mail(identity: Identity, message: notifier.Send, user_id: str) -> None:
    try:
        reply = await identity.rpc.call(notifier.send, message)
    except Exception as exc:  # a background task: nothing above it would log this
        identity.log.warning(
            "password reset mail for %s not handed to the notifier: %s", user_id, type(exc).__name__
        )
        return
    if not reply["ok"]:
        # The error code only: the request, and so the token, stays out of the logs.
        identity.log.warning(
            "password reset mail for %s not accepted by the notifier: %s",
            user_id,
            reply["error"]["code"],
        )


async def reset_password_with_token(
    identity: Identity, request: v1.ResetPasswordWithToken
) -> v1.SignedIn:
    ident = identity.any_ident(request)
    domain.check_password(request.new_password, identity.policy, "new_password")
    invalid = IdentityError(
        "the password reset token is invalid or expired", code=ErrorCode.token_invalid
    )
    user = await store.find_user(identity.pool, ident)
    if user is None:
        raise invalid
    new_hash = await identity.hasher.hash(request.new_password)
    async with identity.pool.acquire() as con, con.transaction():
        if not await store.consume_reset_token(con, user["id"], domain.token_digest(request.token)):
            raise invalid
        await _reset(identity, con, user, new_hash, "token")
        opened = await identity.open_session(con, user, "password_reset")
    return identity.signed_in(user, opened)
