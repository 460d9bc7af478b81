"""A LISTEN connection that comes back by itself after the database drops it.

A PostgreSQL restart, a failover or `pg_terminate_backend` closes the connection; without
this, whoever was woken by its notifications falls back to polling for good (issue 12:
commit → event latency went from ~6 ms to ~0.7 s and stayed there, with nothing logged).

The connection is a dedicated one, not a pool connection held forever: it does not shrink
the pool that serves commands, it is never handed back to the pool half-dead, and its own
`application_name` (`gatehouse-<service>-listen`) shows it apart in `pg_stat_activity`.
"""

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable

import asyncpg

from services.runtime.metrics import LISTEN_LOST, LISTENING

log = logging.getLogger("gatehouse.listener")

Connect = Callable[[], Awaitable[asyncpg.Connection]]


class Listener:
    """Keeps `LISTEN channel` open on a connection from `connect`, calling `on_notify` for
    each notification, and once more after every reconnection: what was committed while the
    connection was down sent its notification to nobody."""

    def __init__(
        self,
        connect: Connect,
        channel: str,
        on_notify: Callable[[], None],
        *,
        name: str,
        min_backoff_s: float = 0.05,
        max_backoff_s: float = 2.0,
        check_s: float = 10.0,
    ) -> None:
        self._connect = connect
        self._channel = channel
        self._on_notify = on_notify
        self.name = name
        self._min_backoff_s = min_backoff_s
        # Short: while the database is away a refused connect costs next to nothing, and
        # this bound is how late after its return events go back to milliseconds.
        self._max_backoff_s = max_backoff_s
        self._check_s = check_s
        self._listening = False

    @property
    def listening(self) -> bool:
        return self._listening

    async def run(self) -> None:
        """Listen until cancelled, reconnecting with backoff whenever the connection is lost."""
        backoff = self._min_backoff_s
        lost_at: float | None = None
        while True:
            try:
                con = await self._connect()
            except Exception as exc:  # whatever the cause, the answer is to try again later
                if lost_at is None:
                    lost_at = self._lost(f"cannot connect ({type(exc).__name__})")
                log.debug("%s: reconnect failed: %s", self.name, type(exc).__name__)
            else:
                try:
                    await self._listen(con, lost_at)
                    backoff, lost_at = self._min_backoff_s, None
                    reason = await self._until_lost(con)
                except Exception as exc:
                    reason = type(exc).__name__
                finally:
                    self._set_listening(False)
                    await _close(con)
                if lost_at is None:
                    lost_at = self._lost(reason)
            # Jitter, so that the replicas of a service do not reconnect in step.
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, self._max_backoff_s)

    async def _listen(self, con: asyncpg.Connection, lost_at: float | None) -> None:
        await con.add_listener(self._channel, self._notified)
        self._set_listening(True)
        if lost_at is not None:
            log.info("%s: listening again after %.1fs", self.name, time.monotonic() - lost_at)
        self._on_notify()

    async def _until_lost(self, con: asyncpg.Connection) -> str:
        closed = asyncio.Event()
        con.add_termination_listener(lambda *_: closed.set())
        while not con.is_closed():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closed.wait(), self._check_s)
                break
            # A peer that vanished without closing the socket never calls the termination
            # listener: an idle LISTEN connection would wait on it forever.
            await asyncio.wait_for(con.execute("SELECT 1"), self._check_s)
        return "connection closed by the server"

    def _lost(self, reason: str) -> float:
        """Once per outage, however many reconnects it takes: one line and one count."""
        LISTEN_LOST.labels(self.name).inc()
        log.warning(
            "%s: not listening for notifications (%s); polling meanwhile, reconnecting",
            self.name,
            reason,
        )
        return time.monotonic()

    def _set_listening(self, listening: bool) -> None:
        self._listening = listening
        LISTENING.labels(self.name).set(1 if listening else 0)

    def _notified(self, *_: object) -> None:
        self._on_notify()


async def _close(con: asyncpg.Connection) -> None:
    # `close` says goodbye to a live server and aborts the socket when it cannot.
    with contextlib.suppress(Exception):
        await con.close(timeout=2)
