"""Contact verification (the one pending email or phone of a user, until confirmed), and
a proved contact taken from the account that only claimed it."""

from dataclasses import dataclass

from services.identity.domain import IdKind
from services.identity.store.rows import USER, Conn, User, typed
from services.runtime.db import Connection


async def start_contact_verification(con: Conn, user_id: int, kind: str, value: str) -> None:
    """One pending contact per user: a new one replaces the old."""
    await con.execute(
        "INSERT INTO contact_verifications (user_id, kind, value) VALUES ($1, $2, $3)"
        " ON CONFLICT (user_id) DO UPDATE SET kind = $2, value = $3, created_at = now()",
        user_id,
        kind,
        value,
    )


@dataclass(frozen=True)
class PendingContact:
    """The email or phone a user is verifying."""

    kind: str
    value: str


async def pending_contact(con: Conn, user_id: int) -> PendingContact | None:
    row = await con.fetchrow(
        "SELECT kind, value FROM contact_verifications WHERE user_id = $1", user_id
    )
    return None if row is None else typed(PendingContact, row)


async def finish_contact_verification(con: Connection, user_id: int, kind: str, value: str) -> bool:
    return (
        await con.fetchval(
            "DELETE FROM contact_verifications WHERE user_id = $1 AND kind = $2 AND value = $3"
            " RETURNING 1",
            user_id,
            kind,
            value,
        )
        is not None
    )


async def release_claim(
    con: Connection, kind: IdKind, value: str, keep_user: int | None
) -> list[User]:
    """Take `value` from the account that holds it unverified, unless that is `keep_user`;
    returns that account as it is left (none, or one: the contact's unique index). One that
    is left with no identifier at all is marked `released_at`.

    An UPDATE locks the row it changes and re-checks its WHERE once a concurrent change
    commits: of two proofs at once, the second finds the contact gone from the claimant (or
    verified by it) and meets the unique index when it writes."""
    column = kind.value  # `email` or `phone`: never caller text
    other = (IdKind.phone if kind is IdKind.email else IdKind.email).value
    rows = await con.fetch(
        f"UPDATE users u SET {column} = NULL, {column}_verified = false, updated_at = now(),"
        f" released_at = CASE WHEN u.username IS NULL AND u.{other} IS NULL THEN now()"
        " ELSE u.released_at END"
        f" WHERE u.{column} = $1 AND NOT u.{column}_verified"
        f" AND u.id IS DISTINCT FROM $2::bigint RETURNING {USER}",
        value,
        keep_user,
    )
    return [typed(User, row) for row in rows]
