"""`gatehouse up` with one part down: the message names that part, its URL without the
password and how to start it, and the exit status is not zero."""

import asyncio
import os
import sys
from pathlib import Path

from tests.notifier_support import free_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = "docker compose -f deploy/compose.yaml up -d rabbitmq postgres"


async def gatehouse_up(settings, **env: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        "up",
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "GATEHOUSE_AMQP_URL": settings.amqp_url.get_secret_value(),
            "GATEHOUSE_DATABASE_URL": settings.database_url.get_secret_value(),
            "GATEHOUSE_NAMESPACE": settings.namespace,
            "GATEHOUSE_HTTP_PORT": str(free_port()),
            **env,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, err.decode()


async def test_with_postgresql_refusing_up_names_the_database_and_how_to_start_it(make_settings):
    port = free_port()  # nothing listens there
    url = f"postgresql://gatehouse:hunter2@127.0.0.1:{port}/gatehouse"
    code, err = await gatehouse_up(make_settings(), GATEHOUSE_DATABASE_URL=url)
    assert code != 0
    assert (
        f"cannot reach the database (PostgreSQL) at postgresql://gatehouse:***@127.0.0.1:{port}"
        in err
    )
    assert "hunter2" not in err
    assert "broker" not in err
    assert "start it here:" in err and COMPOSE in err


async def test_with_rabbitmq_refusing_up_names_the_broker_and_how_to_start_it(make_settings):
    port = free_port()
    url = f"amqp://guest:hunter2@127.0.0.1:{port}/"
    code, err = await gatehouse_up(make_settings(), GATEHOUSE_AMQP_URL=url)
    assert code != 0
    assert f"cannot reach the broker (RabbitMQ) at amqp://guest:***@127.0.0.1:{port}/" in err
    assert "hunter2" not in err
    assert "database" not in err
    assert "start it here:" in err and COMPOSE in err
