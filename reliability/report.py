"""One scenario's figures: the JSON line, and a human line of details on stderr."""

import json
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from reliability.audit import Findings
from reliability.records import Record

KINDS = ("send_code", "register", "login")
PROBES = ("code_login",)


@dataclass
class Result:
    scenario: str
    sent: int
    ok: int
    lost: int
    duplicated: int
    wrong_replies: int
    stuck_codes: int
    recovery_s: float | None
    details: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        figures = asdict(self)
        figures.pop("details")
        return json.dumps(figures)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.wrong_replies or self.stuck_codes)

    def detail_line(self) -> str:
        parts = [f"{k}: {v}" for k, v in self.details.items() if v not in ({}, None, 0, [])]
        return f"# {self.scenario}: " + "; ".join(parts)


def recovery_by_kind(records: list[Record], fault_ends: list[float]) -> dict[str, float | None]:
    """Per kind of command, the longest over the faults of: fault end → its first reply as
    called for (ok; `code_invalid` for the code probe, which needs identity to reach
    verification). None for a kind that never got one again."""
    worst: dict[str, float | None] = {}
    kinds = sorted({r.kind for r in records if r.kind in KINDS + PROBES and r.served})
    for kind in kinds:
        replies = [r.t_reply for r in records if r.kind == kind and r.served and r.t_reply]
        worst[kind] = 0.0
        for end in fault_ends:
            after = [t for t in replies if t >= end]
            if not after:
                worst[kind] = None
                break
            worst[kind] = round(max(worst[kind] or 0.0, min(after) - end), 2)
    return worst


def recovery(by_kind: dict[str, float | None]) -> float | None:
    """Recovered when every kind is served again; None while one is not."""
    if any(v is None for v in by_kind.values()):
        return None
    return max((v for v in by_kind.values() if v is not None), default=0.0)


def outcomes(records: list[Record]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for r in records:
        row = table.setdefault(r.kind, {})
        row[r.outcome] = row.get(r.outcome, 0) + 1
    return table


def latency_ms(records: list[Record]) -> dict[str, float]:
    times = sorted(
        (r.t_reply - r.t_sent) * 1000 for r in records if r.ok and r.t_reply and r.kind in KINDS
    )
    if len(times) < 2:
        return {}
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return {"p50": round(cuts[49], 1), "p99": round(cuts[98], 1)}


def event_lag_ms(
    lags: list[tuple[float, float]], since: float, until: float | None = None
) -> float | None:
    """Median commit → relay pick-up delay of the events committed in [since, until)."""
    window = [lag for at, lag in lags if at >= since and (until is None or at < until)]
    return round(statistics.median(window) * 1000, 1) if window else None


def build(
    scenario: str,
    records: list[Record],
    found: Findings,
    fault_ends: list[float],
    extra: dict[str, Any],
) -> Result:
    by_kind = recovery_by_kind(records, fault_ends)
    return Result(
        scenario=scenario,
        sent=len(records),
        ok=sum(r.ok for r in records),
        lost=sum(found.lost.values()),
        duplicated=sum(found.duplicated.values()),
        wrong_replies=sum(found.wrong.values()),
        stuck_codes=len(found.stuck),
        recovery_s=recovery(by_kind),
        details={
            "lost": dict(found.lost),
            "duplicated": dict(found.duplicated),
            "wrong": dict(found.wrong),
            "outcomes": outcomes(records),
            "latency_ms": latency_ms(records),
            "recovery_s by kind": by_kind,
            **found.notes,
            **extra,
        },
    )
