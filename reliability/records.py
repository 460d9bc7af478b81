"""What the load generator writes for every request, one JSON object per line.

Nothing secret is recorded: no password, no code, no token. A reply is kept as its outcome
(`ok`, the error code, `timeout`, or `exception:<type>` when the request could not be
published) plus the few result fields that name its effect in the database: the user id of a
register, the user id and session expiry of a login, the expiry of a code.
"""

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

OK = "ok"
TIMEOUT = "timeout"
# Outcomes after which the caller cannot know whether its command ran.
UNKNOWN = (TIMEOUT, "internal_error")


@dataclass
class Record:
    seq: int
    kind: str  # register | login | send_code | code_login (a probe) | poison
    routing_key: str
    key: str  # the username or address the request is about (a label for a poison)
    t_sent: float
    resend_of: int | None = None
    correlation_id: str | None = None
    message_id: str | None = None
    t_reply: float | None = None
    outcome: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    expect: str | None = None  # the error code a poison or a probe must get

    @property
    def ok(self) -> bool:
        return self.outcome == OK

    @property
    def served(self) -> bool:
        """Answered as the request called for: ok, or the error a probe or poison expects."""
        return self.outcome == (self.expect or OK)

    @property
    def unanswered(self) -> bool:
        """No reply reached the caller: it cannot know what happened."""
        return self.outcome == TIMEOUT or self.outcome.startswith("exception:")

    @property
    def uncertain(self) -> bool:
        return self.unanswered or self.outcome == "internal_error"

    def line(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


def read(path: Path) -> list[Record]:
    return list(_read(path)) if path.exists() else []


def _read(path: Path) -> Iterator[Record]:
    with path.open() as lines:
        for line in lines:
            # A line without its newline is one the running load is still writing.
            if line.strip() and line.endswith("\n"):
                yield Record(**json.loads(line))
