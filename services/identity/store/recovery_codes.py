"""Recovery codes: the unused ones of each user, as digests (services/identity/recovery.py)."""

from services.identity.store.rows import Conn


async def replace(con: Conn, user_id: int, digests: list[bytes]) -> None:
    """The user's codes are now `digests`: every earlier one is void, in the caller's
    transaction (a new set and the old one never both work)."""
    await con.execute("DELETE FROM recovery_codes WHERE user_id = $1", user_id)
    await con.execute(
        "INSERT INTO recovery_codes (user_id, digest) SELECT $1, unnest($2::bytea[])",
        user_id,
        digests,
    )


async def remaining(con: Conn, user_id: int) -> int:
    count: int = await con.fetchval(
        "SELECT count(*) FROM recovery_codes WHERE user_id = $1", user_id
    )
    return count


async def exists(con: Conn, user_id: int, digest: bytes) -> bool:
    return bool(
        await con.fetchval(
            "SELECT EXISTS (SELECT 1 FROM recovery_codes WHERE user_id = $1 AND digest = $2)",
            user_id,
            digest,
        )
    )


async def spend(con: Conn, user_id: int, digest: bytes) -> bool:
    """Use a code up: of two concurrent sign-ins with one code, exactly one gets True (the
    second DELETE waits for the first's transaction, then finds no row)."""
    return (
        await con.fetchval(
            "DELETE FROM recovery_codes WHERE user_id = $1 AND digest = $2 RETURNING 1",
            user_id,
            digest,
        )
        is not None
    )


async def remove_all(con: Conn, user_id: int) -> None:
    await con.execute("DELETE FROM recovery_codes WHERE user_id = $1", user_id)
