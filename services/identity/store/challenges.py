"""What an account has pending: two-factor sign-ins that still owe a code, and mailed reset
tokens. Each was issued against the account as it was; a change that should end them (a
password change or reset, the two-factor setting, a contact bound, unbound, confirmed or
taken over, a disable) calls `end_pending` in its own transaction. Deregistration deletes
them with the user (foreign keys, ON DELETE CASCADE)."""

from services.runtime.db import Connection


async def end_pending(con: Connection, user_id: int) -> None:
    await con.execute(
        "WITH mfa AS (DELETE FROM mfa_challenges WHERE user_id = $1)"
        " DELETE FROM reset_tokens WHERE user_id = $1",
        user_id,
    )
