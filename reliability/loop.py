"""Run a harness process's main coroutine on uvloop where it is installed, as Gatehouse's
services run under `faststream run`, so the load and the channel cost what a real caller and
consumer would."""

import asyncio
from collections.abc import Coroutine
from typing import Any


def run(main: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        asyncio.run(main)
    else:
        uvloop.run(main)
