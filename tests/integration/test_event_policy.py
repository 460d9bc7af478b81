"""One policy for events (issue 11, finding 8): every service consumes an event through
`Service.event`, which dead-letters what does not parse (a log line, a counter) and never
acknowledges an event its handler did not finish."""

import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY

from contracts.events import v1 as events
from contracts.verification import v1 as verification
from gatehouse.rpc import RpcClient
from services.notifier.domain import recipient_key
from services.runtime.service import Service
from services.verification.app import build as build_verification
from tests.notifier_support import DeadLetters, code_delivery, notifier_env, publish_delivery
from tests.support import call, eventually, inbox_channels, random_email, running

DEREGISTERED = events.user_deregistered.routing_key
# A value in the malformed part of the body: it must reach neither the log nor the reply.
SENTINEL = "hunter2-sentinel"
MALFORMED = json.dumps(
    {
        "specversion": "1.0",
        "type": DEREGISTERED,
        "data": {"user_id": "u_1", "contacts": [{"type": "fax", "value": SENTINEL}]},
    }
).encode()


def deregistered(*contacts: str, user_id: str = "u_1") -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "gatehouse/identity",
            "type": DEREGISTERED,
            "time": datetime.now(UTC).isoformat(),
            "subject": user_id,
            "datacontenttype": "application/json",
            "data": {
                "user_id": user_id,
                "contacts": [
                    {"type": "email" if "@" in c else "phone", "value": c} for c in contacts
                ],
            },
        }
    ).encode()


def invalid_count(consumer: str) -> float:
    labels = {"event": DEREGISTERED, "consumer": consumer}
    return REGISTRY.get_sample_value("gatehouse_events_invalid_total", labels) or 0.0


async def publish_event(amqp: str, exchange: str, body: bytes) -> str:
    return await publish_delivery(amqp, exchange, body, DEREGISTERED)


async def none_left(database_url: str, count_sql: str, *args: Any) -> bool:
    con = await asyncpg.connect(database_url)
    try:
        return await con.fetchval(count_sql, *args) == 0
    finally:
        await con.close()


async def test_verification_dead_letters_a_malformed_deregistration_and_keeps_purging(
    make_settings, caplog
):
    caplog.set_level(logging.INFO)
    settings = make_settings()
    amqp = settings.amqp_url.get_secret_value()
    database_url = settings.database_url.get_secret_value()
    topology = settings.topology
    consumer = "verification.user-deregistered"
    before = invalid_count(consumer)
    async with (
        running(build_verification(settings)),
        inbox_channels(settings, ("inbox", "email")) as inbox,
        RpcClient(amqp, topology, timeout_s=5) as rpc,
    ):
        email = random_email()
        body = {"send_to": email, "scenario": "login", "channel": "inbox"}
        assert (await call(rpc, verification.send_code, body))["ok"]
        await inbox.next(email)

        bad = await publish_event(amqp, topology.events, MALFORMED)
        dlq = topology.consumer_queue("verification", "user-deregistered")
        await DeadLetters(amqp).wait_for(topology.dead_letter_queue(dlq), bad)

        # The consumer goes on: the next, valid event purges the user's codes.
        await publish_event(amqp, topology.events, deregistered(email))
        codes = "SELECT count(*) FROM verification.codes WHERE send_to = $1"
        await eventually(lambda: none_left(database_url, codes, email))
    assert invalid_count(consumer) == before + 1
    assert "user.deregistered.v1 event" in caplog.text and "data.contacts.0.type" in caplog.text
    assert SENTINEL not in caplog.text


async def test_the_notifier_dead_letters_a_malformed_deregistration_and_keeps_forgetting(
    make_settings, caplog
):
    caplog.set_level(logging.INFO)
    consumer = "notifier.user-deregistered"
    before = invalid_count(consumer)
    async with notifier_env(make_settings) as env:
        topology = env.settings.topology
        email = random_email()
        await env.tap.outcome(await env.deliver(code_delivery(email)))

        bad = await publish_event(env.amqp, topology.events, MALFORMED)
        dlq = topology.dead_letter_queue(topology.consumer_queue("notifier", "user-deregistered"))
        await env.dead.wait_for(dlq, bad)

        await publish_event(env.amqp, topology.events, deregistered(email))
        rows = "SELECT count(*) FROM notifier.messages WHERE recipient_key = $1"
        url = env.settings.database_url.get_secret_value()
        await eventually(lambda: none_left(url, rows, recipient_key(email)))
    assert invalid_count(consumer) == before + 1
    assert SENTINEL not in caplog.text


# --- the runtime's policy, on a service of its own ------------------------------------------


@pytest.fixture(params=["quorum", "classic"])
async def fragile(request, make_settings, tmp_path):
    """A service whose handler fails for user `u_boom` and records every other event."""
    settings = make_settings(queue_type=request.param, delivery_limit=2)
    service = Service("eventtest", settings, tmp_path)
    seen: list[str] = []
    attempts: list[str] = []

    async def handle(event: Any) -> None:
        attempts.append(event.data.user_id)
        if event.data.user_id == "u_boom":
            raise RuntimeError(f"database away while handling {SENTINEL}")
        assert isinstance(event.data, events.UserDeregistered)
        seen.append(event.id)

    service.event(events.user_deregistered, "fragile", handle)
    async with running(service):
        yield service, seen, attempts


async def test_a_handler_that_raises_is_retried_then_dead_lettered_never_acked(fragile, caplog):
    service, seen, attempts = fragile
    topology = service.topology
    amqp = service.settings.amqp_url.get_secret_value()
    boom = await publish_event(amqp, topology.events, deregistered(user_id="u_boom"))
    dlq = topology.dead_letter_queue(topology.consumer_queue("eventtest", "fragile"))
    await DeadLetters(amqp).wait_for(dlq, boom)
    assert attempts.count("u_boom") >= 2  # retried before it was given up
    fine = deregistered(user_id="u_fine")
    await publish_event(amqp, topology.events, fine)
    await eventually(lambda: json.loads(fine)["id"] in seen)
    assert "failed in eventtest.fragile with RuntimeError" in caplog.text
    assert SENTINEL not in caplog.text


async def test_an_event_of_another_type_on_the_key_is_dead_lettered(fragile):
    service, seen, _ = fragile
    topology = service.topology
    amqp = service.settings.amqp_url.get_secret_value()
    body = json.loads(deregistered())
    body["type"] = "user.registered.v1"
    before = invalid_count("eventtest.fragile")
    bad = await publish_event(amqp, topology.events, json.dumps(body).encode())
    dlq = topology.dead_letter_queue(topology.consumer_queue("eventtest", "fragile"))
    await DeadLetters(amqp).wait_for(dlq, bad)
    assert body["id"] not in seen
    assert invalid_count("eventtest.fragile") == before + 1


async def test_a_body_that_is_not_json_is_dead_lettered_naming_the_body(fragile, caplog):
    service, _, _ = fragile
    topology = service.topology
    amqp = service.settings.amqp_url.get_secret_value()
    bad = await publish_event(amqp, topology.events, b"not json " + SENTINEL.encode())
    dlq = topology.dead_letter_queue(topology.consumer_queue("eventtest", "fragile"))
    await DeadLetters(amqp).wait_for(dlq, bad)
    assert "(fields: body)" in caplog.text
    assert SENTINEL not in caplog.text
