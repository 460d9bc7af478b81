"""The event loop Gatehouse's own entry points run on: `gatehouse up`, and the hook and
channel workers another service runs with the client (so it imports nothing but asyncio)."""

import asyncio
from collections.abc import Coroutine
from typing import Any


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine on uvloop where available, as `faststream run` does."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        asyncio.run(main)
    else:
        uvloop.run(main)
