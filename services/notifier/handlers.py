"""Notifier entry points: code deliveries, `notifier.send.v1`, and user deregistrations."""

import logging
import uuid
from collections.abc import Awaitable, Callable

from aio_pika.exceptions import DeliveryError
from faststream.rabbit import RabbitMessage
from pydantic import ValidationError

from contracts.envelope import CloudEvent
from contracts.errors import ErrorCode
from contracts.events import v1 as events
from contracts.notifier import v1
from contracts.topology import delivery_routing_key
from contracts.verification.v1 import Delivery
from services.notifier import domain, store
from services.notifier.dispatch import Consumer, Dispatcher, code_job, send_job
from services.notifier.metrics import count
from services.runtime.broker import work_queue
from services.runtime.contacts import normalize_email, normalize_phone
from services.runtime.errors import GatehouseError
from services.runtime.service import Service

log = logging.getLogger("gatehouse.notifier")
NAME = "notifier"


class NotifierError(GatehouseError):
    code = ErrorCode.template_error


def work_queue_name(service: Service, channel: str) -> str:
    return service.topology.consumer_queue(NAME, channel)


def _delivery_consumer(dispatcher: Dispatcher, channel: domain.Channel, queue: str) -> Consumer:
    async def consume(message: RabbitMessage) -> None:
        message_id = domain.stable_message_id(message.message_id, message.body)
        try:
            if message.raw_message.type == v1.send.routing_key:
                job = send_job(message_id, v1.Send.model_validate_json(message.body))
            else:
                job = code_job(message_id, Delivery.model_validate_json(message.body), channel)
        except ValidationError as exc:
            # Field names only: the input may hold a code.
            fields = sorted({".".join(map(str, e["loc"])) for e in exc.errors()})
            log.error("%s %s is malformed (%s); dead-lettered", channel, message_id, fields)
            count(channel, "invalid")
            await message.reject(requeue=False)
            return
        await dispatcher.process(message, job, queue)

    return consume


def _send_command(
    service: Service, dispatcher: Dispatcher, channels: list[str]
) -> Callable[[v1.Send], Awaitable[v1.Accepted]]:
    async def send(request: v1.Send) -> v1.Accepted:
        channel = request.channel.value
        if channel not in channels:
            raise NotifierError(
                f"{channel} is not enabled", code=ErrorCode.delivery_unavailable, channel=channel
            )
        if channel == "email":
            to = normalize_email(request.to, "to")
        else:
            to = normalize_phone(request.to, "to", service.settings.phone_region)
        if dispatcher.templates.resolve(request.template, request.locale, channel) is None:
            raise NotifierError(
                f"template {request.template!r} does not exist for {channel}",
                template=request.template,
            )
        message_id = uuid.uuid4().hex
        job = request.model_copy(update={"to": to})
        try:
            await service.broker.publish(
                job.model_dump_json().encode(),
                queue=work_queue_name(service, channel),
                message_id=message_id,
                message_type=v1.send.routing_key,
                content_type="application/json",
                persist=True,
                mandatory=True,
            )
        except DeliveryError:
            raise NotifierError(
                f"the {channel} queue is missing", code=ErrorCode.delivery_unavailable
            ) from None
        return v1.Accepted(message_id=message_id)

    return send


def _forget_deregistered(
    service: Service,
) -> Callable[[CloudEvent[events.UserDeregistered]], Awaitable[None]]:
    async def forget(event: CloudEvent[events.UserDeregistered]) -> None:
        keys = [domain.recipient_key(c.value) for c in event.data.contacts]
        if keys:
            removed = await store.forget_recipients(service.pool, keys)
            log.info("forgot %d message(s) of a deregistered user", removed)

    return forget


def register(service: Service, dispatcher: Dispatcher, channels: list[str]) -> None:
    topology = service.topology
    for channel in channels:
        name = work_queue_name(service, channel)
        queue = work_queue(service.settings, name, delivery_routing_key(channel))
        service.consumer(
            queue,
            topology.delivery,
            _delivery_consumer(dispatcher, channel, name),  # type: ignore[arg-type]
        )
        service.extra_queues.extend(dispatcher.delay_queues(name))
    service.command(v1.send, _send_command(service, dispatcher, channels))
    service.event(events.user_deregistered, "user-deregistered", _forget_deregistered(service))
