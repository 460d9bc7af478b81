"""One fault per scenario, injected while the load runs, each (but the poisons) right after
a burst of requests so that it finds work in flight. Each returns the moments its fault(s)
ended; `recovery_s` is measured from them.

- broker_restart: `rabbitmqctl stop` of the node, `outage_s` down, started again; the fault
  ends when the node answers AMQP again.
- pg_restart: `pg_ctl stop -m fast`, `outage_s` down, started again; ends when it is up.
- pg_terminate: `pg_terminate_backend` of every Gatehouse connection (the services' pools
  and the outbox relay's LISTEN connection), twice; each ends at once.
- kill9: `kill -9` of identity and verification, restarted at once, `kill_rounds` times,
  each once the last one's backlog is worked off; each ends at the restart (the start-up is
  part of the recovery).
- poison_command: malformed, huge and unknown-version commands, with and without reply_to;
  ends when they are sent.
- poison_event: malformed `user.deregistered.v1` events, then a valid one; ends when they
  are published.
- cluster_node_stop: three nodes, two replicas of each service (on two nodes): stop the third
  node (which leads about a third of the quorum queues), start it again later; ends when
  it is stopped: the cluster must carry on without it.
- cluster_replica_kill: the same cluster: `kill -9` one replica of identity and of
  verification; ends at the kill: the other replicas must carry on.
"""

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

import asyncpg

from contracts.verification import v1 as verification
from gatehouse.rpc import RpcClient
from reliability import poison
from reliability.bench import Bench
from reliability.gatehouse import CHANNEL

Scenario = Callable[[Bench], Awaitable[list[float]]]
RECOVERY_S = 12.0  # at most, past `after_s`, for every kind of command to be served again


async def broker_restart(b: Bench) -> list[float]:
    o = b.options
    start = await b.start_load()
    await b.until(start + o.warmup_s)
    await b.burst()
    await asyncio.to_thread(b.node.stop)
    await asyncio.sleep(o.outage_s)
    b.node.start()
    await b.node.wait_ready()
    end = time.time()
    # Clients and services retry their broker connection every 5 s (aio-pika's default),
    # then work off the backlog: the load runs until each kind of command is served again.
    await b.finish_load_on_recovery([end], end + o.after_s, end + o.after_s + RECOVERY_S)
    return [end]


async def pg_restart(b: Bench) -> list[float]:
    o = b.options
    pg = await b.lab.postgres()
    start = await b.start_load()
    await b.until(start + o.warmup_s)
    await b.burst()
    await pg.astop("fast")
    await asyncio.sleep(o.outage_s)
    await pg.astart()
    end = time.time()
    await b.finish_load(end + o.after_s)
    return [end]


async def pg_terminate(b: Bench) -> list[float]:
    o = b.options
    pg = await b.lab.postgres()
    start = await b.start_load()
    ends, terminated = [], 0
    for at in (o.warmup_s, o.warmup_s + o.outage_s):
        await b.until(start + at)
        await b.burst()
        terminated += await pg.terminate_backends(b.namespace, "gatehouse-")
        ends.append(time.time())
    b.extra["connections terminated"] = terminated
    await b.finish_load(ends[-1] + o.after_s)
    return ends


async def kill9(b: Bench) -> list[float]:
    o = b.options
    assert b.deployment is not None
    victims = b.deployment.of("identity") + b.deployment.of("verification")
    jitter = random.Random(9)
    start = await b.start_load()
    ends = []
    for round_ in range(o.kill_rounds):
        await b.until(start + o.warmup_s + round_ * o.kill_every_s + jitter.random())
        await b.drained()
        await b.burst()
        for victim in victims:
            victim.kill()
        for victim in victims:
            victim.start()
        ends.append(time.time())
        await asyncio.gather(*(v.wait_ready() for v in victims))
    await b.finish_load(ends[-1] + o.after_s)
    return ends


async def poison_command(b: Bench) -> list[float]:
    o = b.options
    start = await b.start_load()
    await b.until(start + o.warmup_s)
    async with RpcClient(b.url, b.topology) as rpc:
        await poison.send_fire_and_forget(b.url, b.topology)
        b.records = await poison.send_commands(rpc, 10_000_000, o.timeout_s)
    end = time.time()
    await b.finish_load(end + o.after_s)
    return [end]


async def poison_event(b: Bench) -> list[float]:
    o = b.options
    probe = "probe-poison@example.com"
    start = await b.start_load()
    async with RpcClient(b.url, b.topology) as rpc:
        body = {"send_to": probe, "scenario": "login", "channel": CHANNEL}
        sent = await rpc.call(verification.send_code, body)
    if not sent["ok"]:
        raise RuntimeError(f"the probe code was not sent: {sent['error']['code']}")
    queues = await consumers_of(b, "user.deregistered.v1")
    await b.until(start + o.warmup_s)
    ids = await poison.publish_events(b.url, b.topology, probe)
    end = time.time()
    purged = await probe_purged(b, probe)
    await b.finish_load(end + o.after_s)
    kept = await poison.dead_lettered(b.url, queues, b.topology)
    for queue in queues:
        for message_id in ids:
            if message_id not in kept[queue]:
                b.findings.lost[f"poison event acknowledged, not dead-lettered, by {queue}"] += 1
    if not purged:
        b.findings.lost["valid user.deregistered after the poison not consumed"] += 1
    b.extra["consumers of user.deregistered"] = len(queues)
    return [end]


async def consumers_of(b: Bench, routing_key: str) -> list[str]:
    """Queues a service binds to the events exchange for `routing_key` (not the tap)."""
    listed = await b.node.actl(
        "list_bindings",
        "source_name",
        "destination_name",
        "routing_key",
        "--quiet",
        "--no-table-headers",
    )
    queues = []
    for line in listed.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[0] == b.topology.events and parts[2] == routing_key:
            queues.append(parts[1])
    return sorted(set(queues))


async def probe_purged(b: Bench, probe: str, timeout_s: float = 15.0) -> bool:
    assert b.target is not None
    deadline = time.monotonic() + timeout_s
    con = await asyncpg.connect(b.target.database_url)
    try:
        while time.monotonic() < deadline:
            if not await con.fetchval(
                "SELECT count(*) FROM verification.codes WHERE send_to = $1", probe
            ):
                return True
            await asyncio.sleep(0.25)
    finally:
        await con.close()
    return False


async def cluster_node_stop(b: Bench) -> list[float]:
    o = b.options
    victim = b.brokers.nodes[-1]
    start = await b.start_load()
    await b.until(start + o.warmup_s)
    await b.burst()
    await asyncio.to_thread(victim.stop)
    end = time.time()
    await asyncio.sleep(2 * o.outage_s)
    victim.start()
    await victim.wait_ready()
    await b.finish_load(end + 2 * o.outage_s + o.after_s)
    return [end]


async def cluster_replica_kill(b: Bench) -> list[float]:
    o = b.options
    assert b.deployment is not None
    victims = b.deployment.of("identity", 1) + b.deployment.of("verification", 1)
    start = await b.start_load()
    await b.until(start + o.warmup_s)
    await b.burst()
    for victim in victims:
        victim.kill()
    end = time.time()
    await asyncio.sleep(o.outage_s)
    for victim in victims:
        await b.deployment.restart(victim)
    await b.finish_load(end + o.outage_s + o.after_s)
    return [end]


SINGLE: dict[str, Scenario] = {
    "broker_restart": broker_restart,
    "pg_restart": pg_restart,
    "pg_terminate": pg_terminate,
    "kill9": kill9,
    "poison_command": poison_command,
    "poison_event": poison_event,
}
CLUSTER: dict[str, Scenario] = {
    "cluster_node_stop": cluster_node_stop,
    "cluster_replica_kill": cluster_replica_kill,
}
ALL: dict[str, Scenario] = {**SINGLE, **CLUSTER}
