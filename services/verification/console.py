"""The dev-mode `console` channel: prints each delivery, code included, to stdout.

This is the only place Gatehouse ever writes a code out, and it exists only when
`GATEHOUSE_MODE=dev`, so a developer can run the whole flow without a mail server.
"""

import sys

from faststream.rabbit import RabbitMessage

from contracts.topology import delivery_routing_key
from contracts.verification import v1
from services.runtime.broker import work_queue
from services.runtime.service import Service

CHANNEL = "console"


def register(service: Service) -> None:
    topology = service.topology
    queue = work_queue(
        service.settings,
        topology.consumer_queue("verification", CHANNEL),
        delivery_routing_key(CHANNEL),
    )

    async def print_delivery(message: RabbitMessage) -> None:
        delivery = v1.Delivery.model_validate_json(message.body)
        print(
            f"[console] {delivery.scenario.value} code for {delivery.send_to}: {delivery.code}"
            f" (expires {delivery.expires_at:%H:%M:%S} UTC)",
            file=sys.stdout,
            flush=True,
        )

    service.consumer(queue, topology.delivery, print_delivery)
