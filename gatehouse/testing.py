"""Test a hook or a custom channel without a broker, in the style of FastStream's
`TestRabbitBroker`, which runs underneath: the worker's own subscribers get each message in
memory, as identity or verification would send it, and nothing connects anywhere.

    from contracts.hooks import v1 as hooks
    from gatehouse.hooks import make_hook
    from gatehouse.testing import TestHookWorker

    async def test_an_unverified_user_is_denied():
        async with TestHookWorker([make_hook("post_login", require_verified_email)]) as worker:
            reply = await worker.call("require_verified_email", event)
        assert isinstance(reply.operations[0], hooks.Deny)

`TestChannelWorker` does the same for custom channels: `deliver()` hands a channel a
delivery and says whether its handler got it. Neither worker announces itself: announcing
is a call to Gatehouse, which a test without a broker has not got.
"""

import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self

from faststream.rabbit import RabbitBroker, TestRabbitBroker

from contracts.errors import ErrorCode
from contracts.hooks import v1 as hooks
from contracts.verification.v1 import Delivery
from gatehouse import _envelope as envelope
from gatehouse._broker import existing_exchange
from gatehouse._publisher import Publisher
from gatehouse.channels import ChannelWorker, CustomChannel, queue_name
from gatehouse.hooks import Hook, HookWorker
from gatehouse.rpc import RemoteError
from gatehouse.settings import BrokerSettings

__all__ = ["TestChannelWorker", "TestHookWorker"]


class _KeptReplies(Publisher):
    """A hook worker's answers, kept by correlation id instead of published."""

    def __init__(self, settings: BrokerSettings) -> None:
        super().__init__(settings.amqp_url.get_secret_value())
        self.kept: dict[str | None, bytes] = {}

    async def reply(
        self,
        reply_to: str,
        correlation_id: str | None,
        body: bytes,
        *,
        exchange: str | None = None,
    ) -> None:
        self.kept[correlation_id] = body


class _InMemory:
    """Runs a worker's broker under FastStream's TestRabbitBroker for an `async with`."""

    # Helpers, not test classes, for pytest, whatever their names say.
    __test__ = False

    def __init__(self, broker: RabbitBroker, settings: BrokerSettings) -> None:
        self.broker = broker
        self.topology = settings.topology
        self._running = TestRabbitBroker(broker)

    async def __aenter__(self) -> Self:
        await self._running.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._running.__aexit__(exc_type, exc, traceback)


class TestHookWorker(_InMemory):
    """A `HookWorker` for `hook_list` on an in-memory broker; `call()` runs one hook."""

    def __init__(self, hook_list: list[Hook], settings: BrokerSettings | None = None) -> None:
        settings = settings or BrokerSettings()
        self._replies = _KeptReplies(settings)
        self.worker = HookWorker(hook_list, settings, replies=self._replies)
        super().__init__(self.worker.broker, settings)

    async def call(
        self,
        name: str,
        event: hooks.HookEvent,
        cache: dict[str, hooks.CacheEntry] | None = None,
    ) -> hooks.HookReply:
        """Send hook `name` the request identity sends for `event` (with the trigger's cache
        snapshot `cache`) and return its reply. A hook that raises is answered with an error
        reply, which this raises as `RemoteError`, as identity would see it."""
        item = self._hook(name, event.trigger)
        request = hooks.HookRequest(hook=name, event=event, cache=cache or {})
        correlation_id = uuid.uuid4().hex
        await self.broker.publish(
            request.model_dump_json().encode(),
            exchange=existing_exchange(self.topology.hooks),
            routing_key=hooks.routing_key(item.trigger, item.priority, item.name),
            reply_to=f"{self.topology.hook_replies_prefix}test",
            correlation_id=correlation_id,
        )
        reply = envelope.parse(self._replies.kept.pop(correlation_id))
        if not reply["ok"]:
            err = reply["error"]
            raise RemoteError(err["message"], code=ErrorCode(err["code"]), **err.get("details", {}))
        return hooks.HookReply.model_validate(reply["result"])

    def _hook(self, name: str, trigger: hooks.Trigger) -> Hook:
        for item in self.worker.hooks:
            if item.name == name and item.trigger == trigger:
                return item
        raise LookupError(f"no {trigger.value} hook named {name!r} in this worker")


class TestChannelWorker(_InMemory):
    """A `ChannelWorker` for `channels` on an in-memory broker; `deliver()` hands one a
    delivery. `delivered[name]` lists what each channel's handler got."""

    def __init__(
        self, channels: list[CustomChannel], settings: BrokerSettings | None = None
    ) -> None:
        settings = settings or BrokerSettings()
        self.delivered: dict[str, list[Delivery]] = {c.name: [] for c in channels}
        kept = [dataclasses.replace(c, handler=self._keeping(c)) for c in channels]
        self.worker = ChannelWorker(kept, settings)
        super().__init__(self.worker.broker, settings)

    def _keeping(self, channel: CustomChannel) -> Callable[[Delivery], Awaitable[None]]:
        async def handler(delivery: Delivery) -> None:
            await channel.handler(delivery)
            self.delivered[channel.name].append(delivery)

        return handler

    async def deliver(self, channel: str, delivery: Delivery | dict[str, Any]) -> bool:
        """Put `delivery` on the queue of `channel`, as verification's `send_code` does.
        True once the channel's handler has returned; False when the worker refused the
        delivery (a recipient the channel's kind does not reach goes to its dead-letter
        queue). An exception the handler raises comes out here."""
        if channel not in self.delivered:
            raise LookupError(f"no channel named {channel!r} in this worker")
        message = Delivery.model_validate(delivery)
        before = len(self.delivered[channel])
        await self.broker.publish(
            message.model_dump_json().encode(), queue=queue_name(self.topology, channel)
        )
        return len(self.delivered[channel]) > before
