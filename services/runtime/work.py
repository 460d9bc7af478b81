"""A command's unit of work: its state change and its reply commit together, where the flow
says so.

The runtime hands every command's flow a `UnitOfWork`. A flow that changes state opens its
transaction and ends it with an explicit commit of the result it returns:

    async with uow.transaction() as con:
        ...  # writes, outbox rows
        return await uow.commit(v1.Done())

`commit` writes the command's reply (the result, as the caller will get it) into the same
transaction as the effect, keyed by the message id (see `services.runtime.recorded_replies`),
and commits, there and then. So a crash leaves the effect and its reply both, or neither, and
a redelivered message finds the reply instead of running again. A block left by an exception
before its commit rolls back; a block left without a commit is a bug and raises. A flow
commits at most once.

While a transaction is held, nothing may talk to the network: its row locks would wait on a
remote party. The network paths (RPC calls and hooks, broker publishes, mail and SMS senders)
call `forbid_network()`, which raises `NetworkInTransaction` in that state. A flow whose
transaction must outlive a network call, by design, says so with `network_inside(why)`.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # annotations only
    import asyncpg
    from asyncpg.transaction import Transaction

    from services.runtime.db import Conn, Connection

T = TypeVar("T")

# How a result becomes the reply recorded with it, and the recording itself (the runtime's).
Present = Callable[[Any], bytes]
Record = Callable[["Conn", bytes], Awaitable[None]]


class NetworkInTransaction(RuntimeError):
    """A network call was made while a unit of work's transaction was held."""


class UnitOfWork:
    """The database side of one command being handled: at most one transaction, which the
    flow commits together with the command's reply."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        message_id: str | None,
        present: Present,
        record: Record | None,
    ) -> None:
        self._pool = pool
        self.message_id = message_id
        self.present = present
        self._record = record
        self._con: Connection | None = None
        self._tx: Transaction | None = None
        self.reply: bytes | None = None  # set by commit: what the caller gets
        self._calls = itertools.count(1)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        if self._con is not None or self.reply is not None:
            raise RuntimeError("a unit of work holds one transaction, committed once")
        async with self._pool.acquire() as con:
            tx = con.transaction()
            await tx.start()
            self._con, self._tx = con, tx
            held = _held.set(True)
            try:
                yield con
            except BaseException:
                if self.reply is None:  # not committed yet
                    await tx.rollback()
                raise
            else:
                if self.reply is None:
                    await tx.rollback()
                    raise RuntimeError("a transaction block ended without uow.commit()")
            finally:
                _held.reset(held)
                self._con = self._tx = None

    async def commit(self, result: T) -> T:
        """Write the reply `result` makes into the open transaction, and commit: the effect
        and its reply are in the database together from here on."""
        if self._con is None or self._tx is None:
            raise RuntimeError("uow.commit() outside its transaction block")
        if self.reply is not None:
            raise RuntimeError("a unit of work commits once")
        reply = self.present(result)
        if self._record is not None:
            await self._record(self._con, reply)
        await self._tx.commit()
        self.reply = reply
        return result

    def child_message_id(self) -> str | None:
        """A message id for the n-th command this one sends, the same at every delivery of
        this message: a redelivered command's calls to other services are then answered from
        their recorded replies instead of running again (a code is not consumed twice)."""
        if self.message_id is None:
            return None
        return f"{self.message_id}/{next(self._calls)}"


# Read by the RPC client for its child message ids only; flows get their unit as an argument.
current: ContextVar[UnitOfWork | None] = ContextVar("gatehouse_work", default=None)
_held: ContextVar[bool] = ContextVar("gatehouse_transaction_held", default=False)
_network_why: ContextVar[str | None] = ContextVar("gatehouse_network_inside", default=None)


def child_message_id() -> str | None:
    unit = current.get()
    return None if unit is None else unit.child_message_id()


def forbid_network(what: str) -> None:
    """Called by every network path before it talks: raises while a transaction is held."""
    if _held.get() and _network_why.get() is None:
        raise NetworkInTransaction(
            f"{what} while a unit of work's transaction is held: do it before the block, or"
            " through the outbox"
        )


@contextmanager
def network_inside(why: str) -> Iterator[None]:
    """Allow network calls inside a transaction, for a flow whose commit must wait on one
    (`why` says what it waits for)."""
    token = _network_why.set(why)
    try:
        yield
    finally:
        _network_why.reset(token)
