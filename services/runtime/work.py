"""A command's unit of work: its writes and its reply commit in one transaction.

While a state-changing command runs, every `transaction()` block of its handler joins one
database transaction. The block's end does not commit: the runtime commits once the handler
has returned, after writing the command's reply into the same transaction (see
`services.runtime.recorded_replies`). So a crash can leave the effect and its reply both, or
neither, and a redelivered message finds the reply instead of running again.

The price is a rule for handlers: a `transaction()` block is the last thing a handler does
with the outside world. Nothing that talks to the network may follow it, because the
transaction (and its row locks) stays open until the handler returns.

Outside a command (housekeeping, tests) `transaction()` is an ordinary transaction.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # annotations only
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy
    from asyncpg.transaction import Transaction

    from services.runtime.db import Conn, Connection

T = TypeVar("T")


class Work:
    """The database side of one command being handled."""

    def __init__(self, pool: asyncpg.Pool, message_id: str | None) -> None:
        self._pool = pool
        self._con: PoolConnectionProxy | None = None
        self._tx: Transaction | None = None
        self.message_id = message_id
        self._calls = itertools.count(1)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        if self._con is None:
            con = await self._pool.acquire()
            try:
                tx = con.transaction()
                await tx.start()
            except BaseException:
                await self._pool.release(con)
                raise
            self._con, self._tx = con, tx
        try:
            yield self._con
        except BaseException:
            await self.rollback()
            raise

    @property
    def pending(self) -> bool:
        return self._con is not None

    async def commit(self, last: Callable[[Conn], Awaitable[T]]) -> T:
        """Run `last` inside the pending transaction and commit it; on the pool when the
        handler wrote nothing in a transaction. `last` raising rolls everything back."""
        if self._con is None or self._tx is None:
            return await last(self._pool)
        con, tx = self._con, self._tx
        try:
            value = await last(con)
            await tx.commit()
        except BaseException:
            await self.rollback()
            raise
        self._con = self._tx = None
        await self._pool.release(con)
        return value

    async def rollback(self) -> None:
        con, tx = self._con, self._tx
        if con is None or tx is None:
            return
        self._con = self._tx = None
        try:
            await tx.rollback()
        finally:
            await self._pool.release(con)

    def child_message_id(self) -> str | None:
        """A message id for the n-th command this one sends, the same at every delivery of
        this message: a redelivered command's calls to other services are then answered from
        their recorded replies instead of running again (a code is not consumed twice)."""
        if self.message_id is None:
            return None
        return f"{self.message_id}/{next(self._calls)}"


current: ContextVar[Work | None] = ContextVar("gatehouse_work", default=None)


def transaction(pool: asyncpg.Pool) -> AbstractAsyncContextManager[Connection]:
    """The current command's transaction, or a transaction of its own outside a command."""
    work = current.get()
    if work is not None:
        return work.transaction()
    return _standalone(pool)


@asynccontextmanager
async def _standalone(pool: asyncpg.Pool) -> AsyncIterator[Connection]:
    async with pool.acquire() as con, con.transaction():
        yield con


def child_message_id() -> str | None:
    work = current.get()
    return None if work is None else work.child_message_id()
