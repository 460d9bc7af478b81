"""Helpers for hook tests: run some hooks through the SDK's worker."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gatehouse.hooks import HookHandler, HookWorker, make_hook
from services.ops.system import SystemSettings
from services.runtime import db


def unique_name(prefix: str) -> str:
    """The registry outlives a test: keep each test's hook names apart."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def forget(settings: SystemSettings, names: list[str]) -> None:
    """Remove the registrations of `names` in `settings`' namespace, as if identity had
    forgotten them: a registered hook whose worker stopped fails its flows closed (or is
    skipped under fail_open), and the next test must not meet it."""
    connection = await db.connect(
        settings.database_url.get_secret_value(), "identity", "tests", namespace=settings.namespace
    )
    try:
        await connection.execute(
            "DELETE FROM hooks WHERE namespace = current_setting('gatehouse.namespace')"
            " AND name = any($1::text[])",
            names,
        )
    finally:
        await connection.close()


@asynccontextmanager
async def hooks_running(
    settings: SystemSettings, *specs: tuple[str, HookHandler, int], keep: bool = False
) -> AsyncIterator[HookWorker]:
    """Serve (trigger, handler, priority) hooks, each under a fresh name, until the block ends;
    then their registrations go too, unless `keep` (a test of a stopped worker's hook).

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
        if not keep:
            await forget(settings, [h.name for h in worker.hooks])


@asynccontextmanager
async def hook_named(
    settings: SystemSettings, trigger: str, handler: HookHandler, name: str, priority: int = 100
) -> AsyncIterator[HookWorker]:
    """Serve one hook under the name given (two installations announcing the same name)."""
    worker = HookWorker([make_hook(trigger, handler, name=name, priority=priority)], settings)
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop()
        await forget(settings, [name])
