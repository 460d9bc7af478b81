"""Gatehouse's own `RpcClient`, held as the load generator needs it.

- The ids of each request (correlation id, and the message id where the client sets one) are
  read off the outgoing message, so a record can name the AMQP message it was.
- After a broker restart the stock client reconnects but never consumes its direct reply-to
  queue again, so every later call fails with `PRECONDITION_FAILED - fast reply consumer does
  not exist` (a bug in `gatehouse/rpc.py`, found by this suite). A caller can only
  replace the client; this one does, once its connection is back, and counts how often, so
  the services behind it can still be measured while the bug stays visible in the figures.
"""

import asyncio
import contextlib
import contextvars
from typing import Any

from aio_pika.exceptions import ChannelPreconditionFailed

from contracts.topology import Topology
from gatehouse.rpc import RpcClient

_published: contextvars.ContextVar[dict[str, str | None]] = contextvars.ContextVar("published")


class _Capture:
    """Wraps the client's exchange to learn the ids it gives each request, untouched."""

    def __init__(self, exchange: Any) -> None:
        self._exchange = exchange

    async def publish(self, message: Any, *args: Any, **kwargs: Any) -> Any:
        slot = _published.get(None)
        if slot is not None:
            slot["correlation_id"] = message.correlation_id
            slot["message_id"] = message.message_id
        return await self._exchange.publish(message, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._exchange, name)


class Caller:
    def __init__(self, url: str, topology: Topology, timeout_s: float) -> None:
        self.url = url
        self.topology = topology
        self.timeout_s = timeout_s
        self.rebuilds = 0
        self._rpc: RpcClient | None = None
        self._rebuilding: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self._rpc = await self._new_client()

    async def _new_client(self) -> RpcClient:
        rpc = RpcClient(self.url, self.topology, timeout_s=self.timeout_s)
        await rpc.connect()
        if hasattr(rpc, "_exchange"):
            rpc._exchange = _Capture(rpc._exchange)  # type: ignore[assignment]
        return rpc

    async def call(self, routing_key: str, body: bytes) -> tuple[bytes, dict[str, str | None]]:
        """The reply envelope and the request's ids; raises what the client raises."""
        assert self._rpc is not None, "connect() first"
        ids: dict[str, str | None] = {}
        _published.set(ids)
        try:
            return await self._rpc.call_raw(routing_key, body, timeout_s=self.timeout_s), ids
        except ChannelPreconditionFailed:
            if self._rebuilding is None or self._rebuilding.done():
                self._rebuilding = asyncio.create_task(self._rebuild())
            raise

    async def _rebuild(self) -> None:
        while True:
            try:
                fresh = await self._new_client()
                break
            except Exception:  # the broker may be going away again
                await asyncio.sleep(1.0)
        old, self._rpc = self._rpc, fresh
        self.rebuilds += 1
        if old is not None:
            with contextlib.suppress(Exception):
                await old.close()

    async def close(self) -> None:
        if self._rebuilding is not None:
            self._rebuilding.cancel()
        if self._rpc is not None:
            await self._rpc.close()
