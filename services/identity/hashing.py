"""Password hashing off the event loop: argon2id by default, bcrypt still accepted.

argon2-cffi releases the GIL while it hashes, so a thread pool as wide as the machine's
cores runs that many hashes at once while the event loop keeps serving messages.
"""

import asyncio
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from passlib.context import CryptContext

from services.identity.settings import ARGON2_ITERATIONS, ARGON2_MEMORY_KIB

T = TypeVar("T")


def argon2id(
    memory_kib: int = ARGON2_MEMORY_KIB, iterations: int = ARGON2_ITERATIONS
) -> CryptContext:
    """argon2id with these costs (one lane); bcrypt hashes (imported users) verify and are
    flagged for re-hashing, as are argon2 hashes made with other costs."""
    return CryptContext(
        schemes=["argon2", "bcrypt"],
        deprecated=["bcrypt"],
        argon2__type="ID",
        argon2__memory_cost=memory_kib,
        argon2__time_cost=iterations,
        argon2__parallelism=1,
    )


class Hasher:
    def __init__(self, workers: int = 0, context: CryptContext | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._context = context or argon2id()
        self._pool: ThreadPoolExecutor | None = None
        self._dummy_hash: str | None = None

    async def start(self) -> None:
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="password-hash")
        # Verified against when the user is unknown, so that path costs one real verify too.
        self._dummy_hash = await self.hash(secrets.token_urlsafe(16))

    async def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._pool is None:
            raise RuntimeError("Hasher.start() was not awaited")
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def hash(self, password: str) -> str:
        return await self._run(self._context.hash, password)

    async def verify(self, password: str, stored: str | None) -> tuple[bool, str | None]:
        """(matches, new hash when the stored one is outdated). `stored=None` is an unknown
        user: a dummy verify runs so the reply takes as long as for a wrong password."""
        if stored is None:
            await self._run(self._context.verify, password, self._dummy_hash)
            return False, None
        try:
            return await self._run(self._context.verify_and_update, password, stored)
        except ValueError:
            # A malformed or unsupported stored hash is a non-match, not a crash.
            return False, None
