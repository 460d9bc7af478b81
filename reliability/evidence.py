"""The evidence an audit reads: one scenario's rows in the database (users, sessions, codes,
the outbox's timings) and the recording channel's deliveries."""

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg


def when(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


@dataclass
class Snapshot:
    """The rows of one scenario's users, sessions and codes (names start with `prefix`)."""

    users: list[asyncpg.Record]
    sessions: list[asyncpg.Record]
    codes: list[asyncpg.Record]
    event_lags: list[tuple[float, float]]  # (committed at, seconds until the relay took it)
    pending_events: int

    @classmethod
    async def take(cls, database_url: str, prefix: str) -> "Snapshot":
        con = await asyncpg.connect(database_url)
        try:
            users = await con.fetch(
                "SELECT id, public_id, username FROM identity.users"
                " WHERE starts_with(username, $1)",
                prefix + "_",
            )
            sessions = await con.fetch(
                "SELECT s.public_id, u.public_id AS user_id, s.expires_at FROM identity.sessions s"
                " JOIN identity.users u ON u.id = s.user_id WHERE starts_with(u.username, $1)",
                prefix + "_",
            )
            codes = await con.fetch(
                "SELECT id, send_to, scenario, created_at, expires_at, undelivered"
                " FROM verification.codes WHERE starts_with(send_to, $1)",
                prefix + "-",
            )
            lags = await con.fetch(
                "SELECT extract(epoch FROM created_at)::float8 AS at,"
                " extract(epoch FROM published_at - created_at)::float8 AS lag"
                " FROM identity.outbox WHERE published_at IS NOT NULL"
            )
            pending = await con.fetchval(
                "SELECT count(*) FROM identity.outbox WHERE published_at IS NULL"
            )
        finally:
            await con.close()
        return cls(users, sessions, codes, [(r["at"], r["lag"]) for r in lags], pending)


def read_deliveries(path: Path) -> Counter[tuple[str, str, datetime]]:
    """(send_to, scenario, expires_at) → how many times the channel received that code."""
    delivered: Counter[tuple[str, str, datetime]] = Counter()
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                d = json.loads(line)
                delivered[(d["send_to"], d["scenario"], when(d["expires_at"]))] += 1
    return delivered
