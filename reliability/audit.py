"""After a scenario: what the replies promised against what the database and the tap hold.

- lost: an ok reply whose effect is missing (no user, no session, no code row, or a code
  never delivered), a committed change without its event on the tap, a poison event
  acknowledged instead of dead-lettered, a valid event not consumed after a poison.
- duplicated: one command applied twice: sessions or code rows beyond what the commands
  account for, two users for one username, two event ids for one user or one session.
- wrong_replies: a reply that contradicts the effect: `username_taken` for a name only this
  command used, `rate_limited` for the first send to a fresh address, `internal_error`
  although the change was committed, `invalid_credentials` for the right password, a poison
  command without its error reply.
- stuck_codes: a code row issued but never delivered that made a resend to its address
  answer `rate_limited`.

Any command may have run once where nobody saw it (its first run's reply lost, its redelivery
answered), so only effects beyond one per command count as duplicated; an effect no reply
names is credited first to callers that never heard back. The counts are lower bounds.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from reliability.evidence import Snapshot, when
from reliability.records import Record
from reliability.tap import Tap


@dataclass
class Findings:
    lost: Counter[str] = field(default_factory=Counter)
    duplicated: Counter[str] = field(default_factory=Counter)
    wrong: Counter[str] = field(default_factory=Counter)
    stuck: set[int] = field(default_factory=set)
    notes: dict[str, Any] = field(default_factory=dict)


def audit_registrations(records: list[Record], snap: Snapshot, found: Findings) -> None:
    users = defaultdict(list)
    for user in snap.users:
        users[user["username"].lower()].append(user)
    for r in records:
        if r.kind != "register":
            continue
        rows = users.get(r.key.lower(), [])
        if len(rows) > 1:
            found.duplicated["register: two users for one username"] += len(rows) - 1
        if r.ok:
            if not any(u["public_id"] == r.result.get("user_id") for u in rows):
                found.lost["register: ok reply, no such user"] += 1
        elif r.outcome == "username_taken":
            found.wrong["register: username_taken for a name only this command used"] += 1
        elif r.outcome == "internal_error":
            if rows:
                found.wrong["register: internal_error, yet the user was created"] += 1
        elif not r.unanswered:
            found.wrong[f"register: {r.outcome}"] += 1


def audit_logins(records: list[Record], snap: Snapshot, found: Findings) -> None:
    sessions = defaultdict(list)
    for s in snap.sessions:
        sessions[s["user_id"]].append(s)
    logins = defaultdict(list)
    for r in records:
        if r.kind == "login":
            logins[r.key.lower()].append(r)
    for user in snap.users:
        own = sessions.get(user["public_id"], [])
        commands = logins.get(user["username"].lower(), [])
        matched: set[str] = set()
        for r in commands:
            if r.ok:
                hit = [
                    s["public_id"]
                    for s in own
                    if r.result.get("user_id") == user["public_id"]
                    and r.result.get("expires_at")
                    and s["expires_at"] == when(r.result["expires_at"])
                ]
                if hit:
                    matched.add(hit[0])
                else:
                    found.lost["login: ok reply, no such session"] += 1
            elif r.outcome == "invalid_credentials":
                found.wrong["login: invalid_credentials for the right password"] += 1
            elif not r.uncertain:
                found.wrong[f"login: {r.outcome}"] += 1
        # Sessions no ok reply names: first credited to callers that never heard back.
        unclaimed = len(own) - len(matched)
        unclaimed -= min(unclaimed, sum(r.unanswered for r in commands))
        failed = min(unclaimed, sum(r.outcome == "internal_error" for r in commands))
        if failed:
            found.wrong["login: internal_error, yet a session was opened"] += failed
        # Any command, whatever it was answered, may have run once unseen: only sessions
        # beyond one per command are certainly duplicates.
        if len(own) > len(commands):
            found.duplicated["login: more sessions than login commands"] += len(own) - len(commands)


def audit_codes(
    records: list[Record],
    snap: Snapshot,
    delivered: Counter[tuple[str, str, datetime]],
    found: Findings,
) -> None:
    rows_of = defaultdict(list)
    for row in snap.codes:
        if not row["undelivered"]:  # voided and answered delivery_unavailable: never live
            rows_of[row["send_to"]].append(row)
    sends = defaultdict(list)
    for r in records:
        if r.kind == "send_code":
            sends[r.key].append(r)

    def was_delivered(row: asyncpg.Record) -> bool:
        return delivered[(row["send_to"], row["scenario"], row["expires_at"])] > 0

    found.notes["codes delivered more than once"] = sum(n > 1 for n in delivered.values())
    for address, commands in sends.items():
        rows = rows_of.get(address, [])
        matched: set[int] = set()
        for r in sorted(commands, key=lambda c: c.seq):
            if r.ok:
                hit = [row for row in rows if row["expires_at"] == when(r.result["expires_at"])]
                if not hit:
                    found.lost["send_code: ok reply, no code row"] += 1
                elif not was_delivered(hit[0]):
                    found.lost["send_code: ok reply, code never delivered"] += 1
                else:
                    matched.add(hit[0]["id"])
            elif r.outcome == "rate_limited":
                if r.resend_of is None:
                    found.wrong["send_code: rate_limited on the first send to an address"] += 1
                    continue
                before = [row for row in rows if row["created_at"].timestamp() < (r.t_reply or 0)]
                if before and not any(was_delivered(row) for row in before):
                    found.stuck.add(max(before, key=lambda row: row["created_at"])["id"])
            elif r.outcome == "internal_error":
                pass  # judged below, with the rows no ok reply accounts for
            elif not r.unanswered:
                found.wrong[f"send_code: {r.outcome}"] += 1
        unmatched = [row for row in rows if row["id"] not in matched]
        unanswered = sum(r.unanswered for r in commands)
        failed = sum(r.outcome == "internal_error" for r in commands)
        # Delivered codes no ok reply names: first credited to callers that never heard back.
        delivered_unclaimed = max(0, sum(map(was_delivered, unmatched)) - unanswered)
        if min(failed, delivered_unclaimed):
            found.wrong["send_code: internal_error, yet its code was delivered"] += min(
                failed, delivered_unclaimed
            )
        # Any command may have run once unseen: only codes beyond one per command are
        # certainly duplicates.
        if len(rows) > len(commands):
            found.duplicated["send_code: more codes than send commands"] += len(rows) - len(
                commands
            )


def audit_events(snap: Snapshot, tap: Tap, found: Findings) -> None:
    registered = defaultdict(set)
    for e in tap.of_type("user.registered.v1"):
        registered[e["data"]["user_id"]].add(e["id"])
    logged_in = defaultdict(set)
    for e in tap.of_type("user.logged_in.v1"):
        logged_in[e["data"]["session_id"]].add(e["id"])
    for user in snap.users:
        ids = registered.get(user["public_id"], set())
        if not ids:
            found.lost["event: committed user without user.registered"] += 1
        elif len(ids) > 1:
            found.duplicated["event: two user.registered ids for one user"] += len(ids) - 1
    for session in snap.sessions:
        ids = logged_in.get(session["public_id"], set())
        if not ids:
            found.lost["event: committed session without user.logged_in"] += 1
        elif len(ids) > 1:
            found.duplicated["event: two user.logged_in ids for one session"] += len(ids) - 1
    users = {u["public_id"] for u in snap.users}
    sessions = {s["public_id"] for s in snap.sessions}
    phantom = sum(u not in users for u in registered) + sum(s not in sessions for s in logged_in)
    found.notes["events without their change"] = phantom
    found.notes["event copies beyond the first"] = tap.redelivered
    found.notes["events not yet published"] = snap.pending_events


def audit_poison(records: list[Record], found: Findings) -> None:
    for r in records:
        if r.kind == "poison" and r.outcome != r.expect:
            found.wrong[f"poison command ({r.key}): {r.outcome or 'no reply'}"] += 1


def audit_probes(records: list[Record], found: Findings) -> None:
    """A code login with a wrong code may fail while a fault lasts, never succeed."""
    for r in records:
        if r.kind == "code_login" and not r.served and not r.uncertain:
            found.wrong[f"code login with a wrong code: {r.outcome}"] += 1
