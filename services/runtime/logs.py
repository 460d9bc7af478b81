"""Logging setup: plain or JSON lines, each carrying the correlation id of the message at hand."""

import json
import logging
import sys
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime

from gatehouse._transport_logs import silence_transport_debug

# The packages whose frames `raised_at` names first.
_OURS = ("services", "gatehouse", "contracts")

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)


class _CorrelationFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": getattr(record, "correlation_id", None),
        }
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str = "INFO", json_lines: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_CorrelationFilter())
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s"
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    silence_transport_debug()


def raised_at(exc: BaseException) -> str:
    """Where `exc` was raised, for a log line that must not carry its text (an exception's
    message can hold the values of the query or request that failed): the innermost frame in
    Gatehouse's own code, and the innermost frame overall when that is elsewhere."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    ours = [
        f
        for f in frames
        if any(f"/{top}/" in f.filename for top in ("services", "gatehouse", "contracts"))
    ]
    where = ours[-1:] + frames[-1:]
    unique = list(dict.fromkeys(f"{f.filename}:{f.lineno} in {f.name}" for f in where))
    return " → ".join(unique)
