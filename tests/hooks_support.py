"""Helpers for hook tests: run some hooks through the SDK's worker."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.hooks_sdk import HookHandler, HookWorker, make_hook
from services.runtime.settings import Settings


def unique_name(prefix: str) -> str:
    """Hook names scope the cache, and the registry outlives a test: keep them apart."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@asynccontextmanager
async def hooks_running(
    settings: Settings, *specs: tuple[str, HookHandler, int]
) -> AsyncIterator[HookWorker]:
    """Serve (trigger, handler, priority) hooks, each under a fresh name, until the block ends.

    Identity must already run: the worker announces its hooks when it starts."""
    worker = HookWorker(
        [
            make_hook(
                trigger,
                handler,
                name=unique_name(handler.__name__.replace("_", "-")),
                priority=priority,
            )
            for trigger, handler, priority in specs
        ],
        settings,
    )
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop()


@asynccontextmanager
async def hook_named(
    settings: Settings, trigger: str, handler: HookHandler, name: str, priority: int = 100
) -> AsyncIterator[HookWorker]:
    """Serve one hook under the name given (two installations announcing the same name)."""
    worker = HookWorker([make_hook(trigger, handler, name=name, priority=priority)], settings)
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop()
