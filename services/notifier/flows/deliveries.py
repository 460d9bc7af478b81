"""A channel's work queue: verification's code deliveries, jobs queued by `notifier.send`, and
retries coming back from their delay queues, each parsed into a `Job` and dispatched."""

import logging

from faststream.rabbit import RabbitMessage
from pydantic import ValidationError

from contracts.notifier import v1
from contracts.verification.v1 import Delivery
from gatehouse._recipients import Channel
from services.notifier import domain
from services.notifier.metrics import count
from services.notifier.service import NotifierService

log = logging.getLogger("gatehouse.notifier")


async def deliver(notifier: NotifierService, channel: Channel, message: RabbitMessage) -> None:
    message_id = domain.stable_message_id(message.message_id, message.body)
    try:
        if message.raw_message.type == v1.send.routing_key:
            job = domain.send_job(message_id, v1.Send.model_validate_json(message.body))
        else:
            delivery = Delivery.model_validate_json(message.body)
            job = domain.code_job(message_id, delivery, channel)
    except ValidationError as exc:
        # Field names only: the input may hold a code.
        fields = sorted({".".join(map(str, e["loc"])) for e in exc.errors()})
        log.error("%s %s is malformed (%s); dead-lettered", channel, message_id, fields)
        count(channel, "invalid")
        await message.reject(requeue=False)
        return
    await notifier.dispatcher.process(message, job, notifier.queue(channel))
