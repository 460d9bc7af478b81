"""SQL for the identity schema, one module per concern. Uniqueness, single use and counters
are the database's job.

Callers name the concern: `store.users.find_user(...)`, `store.sessions.create_session(...)`.
"""

from services.identity.store import (
    admin,
    challenges,
    contacts,
    credentials,
    hooks,
    mfa,
    recovery_codes,
    resets,
    retention,
    rows,
    sessions,
    signing_keys,
    totp,
    users,
)

__all__ = [
    "admin",
    "challenges",
    "contacts",
    "credentials",
    "hooks",
    "mfa",
    "recovery_codes",
    "resets",
    "retention",
    "rows",
    "sessions",
    "signing_keys",
    "totp",
    "users",
]
