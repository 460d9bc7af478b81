"""Usernames get a canonical key and a look-alike skeleton (issue 22), both computed in Python
by `services.identity.usernames` and each under a unique index; the unique index on
`lower(username)`, whose meaning depended on the database's locale, goes.

Existing rows that collide once normalised are kept, and the migration does not fail on them:

- The same key (`ADMIN` beside `admin` under a C-locale `lower()`, fullwidth `admin` beside
  `admin`): the oldest account (by `created_at`, then id) keeps the key; each younger one
  keeps its username, shown as before, but no key, so signing in *by username* finds the
  oldest account only. Its email, phone and sessions work as before. Such accounts are named
  (public ids) in a WARNING, for an operator to follow up; a username registered after its
  look-alike was most likely the impostor.
- The same skeleton only (`admin` with a Cyrillic `a` beside `admin`, `lris` beside `Iris`):
  the younger keeps its key (it signs in as before) and gets no skeleton; the older one's
  skeleton, the same value, keeps new look-alikes of both out.

A replica still running the previous version would insert usernames without a key, which
no index would hold against their look-alikes: a trigger refuses such inserts (that replica's
registrations with a username fail until it is upgraded; existing rows are untouched).
"""

import logging

from services.identity.usernames import canonical, skeleton
from services.runtime.db import Connection

log = logging.getLogger("gatehouse.db")

BATCH = 5000
SHOWN = 100


async def apply(con: Connection) -> None:
    await con.execute(
        "ALTER TABLE users ADD COLUMN username_key text, ADD COLUMN username_skeleton text"
    )
    await con.execute(
        "CREATE TEMPORARY TABLE username_keys"
        " (id bigint PRIMARY KEY, key text NOT NULL, skeleton text NOT NULL) ON COMMIT DROP"
    )
    last = 0
    while rows := await con.fetch(
        "SELECT id, username FROM users WHERE username IS NOT NULL AND id > $1"
        " ORDER BY id LIMIT $2",
        last,
        BATCH,
    ):
        await con.copy_records_to_table(
            "username_keys",
            records=[(r["id"], canonical(r["username"]), skeleton(r["username"])) for r in rows],
        )
        last = rows[-1]["id"]
    await con.execute(
        "UPDATE users u SET"
        " username_key = CASE WHEN r.key_rank = 1 THEN r.key END,"
        " username_skeleton = CASE WHEN r.skeleton_rank = 1 THEN r.skeleton END"
        " FROM (SELECT k.id, k.key, k.skeleton,"
        "   row_number() OVER (PARTITION BY k.key ORDER BY u.created_at, u.id) AS key_rank,"
        "   row_number() OVER (PARTITION BY k.skeleton ORDER BY u.created_at, u.id)"
        "     AS skeleton_rank"
        "   FROM username_keys k JOIN users u USING (id)) r"
        " WHERE u.id = r.id"
    )
    keyless = await con.fetch(
        "SELECT public_id FROM users WHERE username IS NOT NULL AND username_key IS NULL"
        " ORDER BY created_at, id"
    )
    if keyless:
        log.warning(
            "%d account(s) share a username with an older account once normalised (NFKC, case"
            " folded): they keep it, but signing in by that username finds the older account;"
            " rename them or let their owners sign in by email or phone: %s%s",
            len(keyless),
            ", ".join(r["public_id"] for r in keyless[:SHOWN]),
            " ..." if len(keyless) > SHOWN else "",
        )
    await con.execute("DROP INDEX users_username_key")
    # The service maps a violation of either to `username_taken` (store/rows.py).
    await con.execute("CREATE UNIQUE INDEX users_username_key ON users (username_key)")
    await con.execute(
        "CREATE UNIQUE INDEX users_username_skeleton_key ON users (username_skeleton)"
    )
    await con.execute(_REFUSE_UNKEYED)


_REFUSE_UNKEYED = """
CREATE FUNCTION users_username_keyed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.username IS NOT NULL AND (NEW.username_key IS NULL OR NEW.username_skeleton IS NULL)
    THEN
        RAISE EXCEPTION 'a username needs its key and skeleton (services.identity.usernames)';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER users_username_keyed BEFORE INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION users_username_keyed();
"""
