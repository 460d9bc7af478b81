"""The runtime on the real broker and database: migrations, RPC edge cases, poison messages,
health endpoints."""

import asyncio
import json
import logging
from pathlib import Path

import aio_pika
import pytest
from faststream.rabbit import RabbitMessage

from contracts.envelope import Contract
from contracts.topology import Command
from gatehouse.rpc import RpcClient
from services.runtime import db
from services.runtime.broker import work_queue
from services.runtime.health import HealthServer, HttpResponse
from services.runtime.outbox import purge_published
from services.runtime.service import Service
from services.runtime.work import UnitOfWork
from tests.support import call, error_code, running

EMPTY = Path(__file__).parent / "no_migrations"


class Sleep(Contract):
    seconds: float = 0


SLEEP = Command("rt", "sleep", 1, Sleep, Sleep, "Sleep, then echo.")
BOOM = Command("rt", "boom", 1, Sleep, Sleep, "Always fails unexpectedly.")
TALKY = Command("rt", "talky", 1, Sleep, Sleep, "Publishes while holding its transaction.")


@pytest.fixture(scope="module")
async def env(make_settings, tmp_path_factory):
    # Quorum queues here, as in production: the delivery limit is theirs.
    settings = make_settings(
        rpc_timeout_s=0.5, delivery_limit=2, queue_type="quorum", message_metrics=True
    )
    service = Service("runtimetest", settings, tmp_path_factory.mktemp("migrations"))
    poisoned: list[bytes] = []
    healthy: list[bytes] = []

    async def sleep(uow: UnitOfWork, request: Sleep) -> Sleep:
        await asyncio.sleep(request.seconds)
        return request

    async def boom(uow: UnitOfWork, request: Sleep) -> Sleep:
        raise RuntimeError("password=hunter2 leaked into an exception text")

    async def fragile(message: RabbitMessage) -> None:
        if message.body == b"poison":
            poisoned.append(message.body)
            raise ValueError("cannot handle this one")
        healthy.append(message.body)

    async def talky(uow: UnitOfWork, request: Sleep) -> Sleep:
        async with uow.transaction():
            await service.publisher.publish(
                settings.topology.events, "nobody", b"{}", message_id="talky"
            )
            return await uow.commit(request)

    service.command(SLEEP, sleep)
    service.command(BOOM, boom)
    service.command(TALKY, talky)
    queue_name = settings.topology.consumer_queue("runtimetest", "fragile")
    service.consumer(
        work_queue(settings, queue_name, "fragile"),
        settings.topology.events,
        fragile,
    )
    async with (
        running(service),
        RpcClient(settings.amqp_url.get_secret_value(), settings.topology, timeout_s=0.5) as rpc,
    ):
        yield service, rpc, poisoned, healthy


async def test_a_reply_that_never_comes_is_a_timeout_error(env):
    _, rpc, _, _ = env
    reply = await call(rpc, SLEEP, {"seconds": 2})
    assert error_code(reply) == "timeout"
    assert (await call(rpc, SLEEP, {"seconds": 0}))["ok"]


async def test_an_unexpected_exception_is_an_internal_error_reply_without_its_text(env, caplog):
    _, rpc, _, _ = env
    caplog.set_level(logging.INFO)
    reply = await call(rpc, BOOM, {})
    assert error_code(reply) == "internal_error"
    assert "hunter2" not in json.dumps(reply)
    assert "rt.boom.v1 failed with RuntimeError" in caplog.text
    assert "hunter2" not in caplog.text  # where it was raised, never what it said
    assert (await call(rpc, SLEEP, {}))["ok"]  # the consumer is still there


async def test_a_flow_that_talks_to_the_network_inside_its_transaction_fails(env, caplog):
    _, rpc, _, _ = env
    caplog.set_level(logging.INFO)
    reply = await call(rpc, TALKY, {})
    assert error_code(reply) == "internal_error"
    assert "rt.talky.v1 failed with NetworkInTransaction" in caplog.text


async def test_concurrent_calls_are_multiplexed_and_matched_to_their_callers(env):
    _, rpc, _, _ = env
    delays = [0.05 * (i % 5) for i in range(40)]
    replies = await asyncio.gather(*(call(rpc, SLEEP, {"seconds": d}) for d in delays))
    assert [r["result"]["seconds"] for r in replies] == delays


async def test_a_poison_message_lands_in_the_dead_letter_queue_and_consuming_goes_on(env):
    service, _, poisoned, healthy = env
    topology = service.topology
    connection = await aio_pika.connect(service.settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(topology.events)
        await exchange.publish(aio_pika.Message(b"poison"), routing_key="fragile")
        await exchange.publish(aio_pika.Message(b"fine"), routing_key="fragile")
        dlq = await channel.get_queue(
            topology.dead_letter_queue(topology.consumer_queue("runtimetest", "fragile"))
        )
        for _ in range(100):
            dead = await dlq.get(fail=False)
            if dead is not None:
                break
            await asyncio.sleep(0.05)
        assert dead is not None and dead.body == b"poison"
        await dead.ack()
    assert healthy == [b"fine"]
    assert 1 <= len(poisoned) <= 2


async def test_health_endpoints_report_liveness_readiness_and_metrics(env):
    service, rpc, _, _ = env
    await call(rpc, SLEEP, {})
    health = HealthServer(0, [service.readiness], host="127.0.0.1")
    await health.start()
    try:

        async def get(path: str) -> tuple[int, bytes]:
            reader, writer = await asyncio.open_connection("127.0.0.1", health.port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            raw = await reader.read()
            writer.close()
            head, _, body = raw.partition(b"\r\n\r\n")
            return int(head.split()[1]), body

        assert await get("/healthz") == (200, b"ok\n")
        status, body = await get("/readyz")
        assert status == 200
        assert json.loads(body) == {
            "runtimetest.broker": True,
            "runtimetest.database": True,
            "runtimetest.migrations": True,
            "runtimetest.consuming": True,
        }
        status, body = await get("/metrics")
        assert status == 200
        assert b'gatehouse_commands_total{command="rt.sleep.v1",outcome="ok"}' in body
        assert b"faststream_received_messages_total" in body
        assert (await get("/nope"))[0] == 404
    finally:
        await health.stop()


async def test_routes_a_service_adds_answer_on_the_health_port():
    async def hello() -> HttpResponse:
        return HttpResponse("200 OK", "application/json", b"{}", (("Cache-Control", "no-store"),))

    async def broken() -> HttpResponse:
        raise RuntimeError("bug")

    routes = {"/hello": hello, "/broken": broken}
    health = HealthServer(0, [], host="127.0.0.1", routes=routes)
    await health.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", health.port)
        writer.write(b"GET /hello?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        raw = await reader.read()
        writer.close()
        assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"\r\nCache-Control: no-store\r\n" in raw and raw.endswith(b"\r\n\r\n{}")
        reader, writer = await asyncio.open_connection("127.0.0.1", health.port)
        writer.write(b"GET /broken HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await reader.read()).startswith(b"HTTP/1.1 500 ")
        writer.close()
    finally:
        await health.stop()
    with pytest.raises(ValueError, match="/metrics"):
        HealthServer(0, [], routes={"/metrics": hello})


async def test_migrations_run_twice_concurrently_apply_each_version_once(database_url, tmp_path):
    (tmp_path / "001_things.sql").write_text("CREATE TABLE things (id int PRIMARY KEY);")
    (tmp_path / "002_more.sql").write_text("ALTER TABLE things ADD COLUMN name text;")
    pools = [
        await db.create_pool(database_url, "concurrent_mig", namespace="test") for _ in range(2)
    ]
    try:
        results = await asyncio.gather(*(db.migrate(p, "concurrent_mig", tmp_path) for p in pools))
        applied = sorted(v for r in results for v in r)
        runtime = [f"runtime/{p.stem}" for p in db.RUNTIME_MIGRATIONS.glob("*.sql")]
        assert applied == sorted([*runtime, "concurrent_mig/001_things", "concurrent_mig/002_more"])
        assert await db.migrate(pools[0], "concurrent_mig", tmp_path) == []
        assert await db.pending_migrations(pools[0], "concurrent_mig", tmp_path) == []
        async with pools[0].acquire() as con:
            assert await con.fetchval("SELECT count(*) FROM schema_migrations") == len(applied)
    finally:
        for pool in pools:
            await pool.close()


async def test_a_python_migration_runs_in_order_and_rolls_back_with_its_transaction(
    database_url, tmp_path
):
    (tmp_path / "001_things.sql").write_text("CREATE TABLE things (id int PRIMARY KEY);")
    (tmp_path / "002_fill.py").write_text(
        "async def apply(con):\n"
        "    await con.executemany('INSERT INTO things VALUES ($1)', [(i,) for i in range(3)])\n"
    )
    (tmp_path / "003_broken.py").write_text(
        "async def apply(con):\n"
        "    await con.execute('INSERT INTO things VALUES (99)')\n"
        "    raise RuntimeError('half-way')\n"
    )
    pool = await db.create_pool(database_url, "python_mig", namespace="test")
    try:
        with pytest.raises(RuntimeError, match="half-way"):
            await db.migrate(pool, "python_mig", tmp_path)
        assert await pool.fetchval("SELECT array_agg(id ORDER BY id) FROM things") == [0, 1, 2]
        assert await db.pending_migrations(pool, "python_mig", tmp_path) == [
            "python_mig/003_broken"
        ]
    finally:
        await pool.execute("DROP SCHEMA python_mig CASCADE")
        await pool.close()


async def test_housekeeping_removes_old_published_events_and_expired_idempotency_keys(env):
    service, _, _, _ = env
    pool = service.pool
    await pool.execute(
        "INSERT INTO outbox (event_id, routing_key, body, created_at, published_at)"
        " VALUES (gen_random_uuid(), 'x.v1', '{}', now() - interval '8 days',"
        " now() - interval '8 days'),"
        " (gen_random_uuid(), 'x.v1', '{}', now(), now()),"
        " (gen_random_uuid(), 'x.v1', '{}', now(), NULL)"
    )
    await pool.execute(
        "INSERT INTO idempotency (routing_key, caller, key, request_mac, key_id, reply,"
        " created_at) VALUES"
        " ('rt.sleep.v1', '', 'old', '', '', '{}', now() - interval '25 hours'),"
        " ('rt.sleep.v1', '', 'new', '', '', '{}', now())"
    )
    assert await purge_published(pool) == 1
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 2
    assert (await service.purge_retained())["idempotency"] >= 1
    keys = {r["key"] for r in await pool.fetch("SELECT key FROM idempotency")}
    assert "old" not in keys and "new" in keys


async def test_readiness_waits_until_the_service_consumes(make_settings, tmp_path):
    # The fault suite found /readyz ready a moment before the command queues had consumers,
    # and commands sent then came back `unknown_command`.
    service = Service("readiness", make_settings(), tmp_path)
    await service.prepare()
    try:
        assert (await service.readiness())["readiness.consuming"] is False
        await service.broker.start()
        await service.started()
        assert (await service.readiness())["readiness.consuming"] is True
    finally:
        await service.stop()
