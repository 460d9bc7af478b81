"""`gatehouse down --purge` on the real broker: a throwaway namespace's services are
started and stopped, then the command deletes every queue and exchange they declared."""

import asyncio
import os
import sys

import aio_pika
import pytest
from aio_pika.exceptions import ChannelNotFoundEntity

from services.ops import namespace
from services.ops.system import SystemSettings, build_services
from tests.support import inbox_channels, running

CHANNEL = "inbox"


async def gatehouse(settings: SystemSettings, *args: str, answer: str = "") -> tuple[int, str, str]:
    env = {
        **os.environ,
        "GATEHOUSE_AMQP_URL": settings.amqp_url.get_secret_value(),
        "GATEHOUSE_NAMESPACE": settings.namespace,
        "PYTHONPATH": os.getcwd(),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from services.cli import main; main()",
        "down",
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(answer.encode()), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def existing(settings: SystemSettings, names: list[str], kind: str) -> list[str]:
    """The names a passive declare finds (a miss closes the channel: AMQP 404)."""
    found = []
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel()
        for name in names:
            try:
                if kind == "queue":
                    await channel.declare_queue(name, passive=True)
                else:
                    await channel.declare_exchange(name, passive=True)
            except ChannelNotFoundEntity:
                channel = await connection.channel()
                continue
            found.append(name)
    return found


@pytest.fixture(scope="module")
async def stopped(make_settings, tmp_path_factory) -> SystemSettings:
    """A namespace whose services (dev mode: every queue) and custom channel ran, then stopped;
    the services refuse the purge while they run."""
    settings = make_settings(mode="dev", dev_mailbox_dir=str(tmp_path_factory.mktemp("outbox")))
    async with running(*build_services(settings)), inbox_channels(settings, (CHANNEL, "email")):
        code, _, err = await gatehouse(settings, "--purge", "--yes", "--channel", CHANNEL)
        assert code == 1
        assert "still have consumers" in err
    await _a_retry_waits_in_a_delay_queue(settings)
    return settings


async def _a_retry_waits_in_a_delay_queue(settings: SystemSettings) -> None:
    """As the notifier leaves one when a provider asks it to retry in five minutes."""
    work = settings.topology.consumer_queue("notifier", "email")
    delay = settings.topology.delay_queue(work, 300_000)
    assert delay in declared(settings).delay_queues
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel()
        arguments: dict[str, aio_pika.abc.FieldValue] = {
            "x-message-ttl": 300_000,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": work,
        }
        await channel.declare_queue(delay, durable=True, arguments=arguments)
        await channel.default_exchange.publish(aio_pika.Message(b"{}"), routing_key=delay)


def declared(settings: SystemSettings) -> namespace.Footprint:
    return namespace.footprint(namespace.everything(settings), (CHANNEL,))


async def test_down_without_purge_only_tells_what_the_namespace_holds(stopped: SystemSettings):
    names = declared(stopped)
    code, out, _ = await gatehouse(stopped, "--channel", CHANNEL)
    assert code == 0
    # Delay queues appear only once a delivery is retried: none here.
    queues = len(names.work_queues) + len(names.dead_letter_queues)
    assert f"{queues} queue(s)" in out
    assert f"{len(names.exchanges)} exchange(s)" in out
    assert "--purge" in out


async def test_a_purge_not_confirmed_deletes_nothing(stopped: SystemSettings):
    names = declared(stopped)
    code, _, err = await gatehouse(stopped, "--purge", "--channel", CHANNEL, answer="gatehouse\n")
    assert code == 1
    assert "nothing deleted" in err
    assert await existing(stopped, list(names.work_queues), "queue") == list(names.work_queues)


async def test_purge_deletes_every_queue_and_exchange_of_the_stopped_namespace(
    stopped: SystemSettings,
):
    names = declared(stopped)
    assert await existing(stopped, list(names.exchanges), "exchange") == list(names.exchanges)
    code, out, _ = await gatehouse(
        stopped, "--purge", "--channel", CHANNEL, answer=f"{stopped.namespace}\n"
    )
    assert code == 0, out
    assert "waiting retries dropped: 1" in out
    assert await existing(stopped, list(names.queues), "queue") == []
    assert await existing(stopped, list(names.exchanges), "exchange") == []
