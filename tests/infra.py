"""Where the tests find RabbitMQ and PostgreSQL (a run cleans up after itself with
`services.ops.scratch`, which the benchmarks use too).

Order: the `GATEHOUSE_AMQP_URL` / `GATEHOUSE_DATABASE_URL` settings if given; else the
services on localhost if they answer (the project machines and CI); else, with Docker,
throwaway containers through testcontainers.
"""

import os
import socket
import uuid
from contextlib import ExitStack
from urllib.parse import urlsplit

# Names this run's database and namespaces, so that runs sharing a machine never collide.
RUN_ID = uuid.uuid4().hex[:8]
LOCAL_AMQP = "amqp://guest:guest@localhost:5672/"
LOCAL_POSTGRES = "postgresql://postgres@localhost:5432/postgres"


def _answers(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "localhost", parts.port or default_port), 1
        ):
            return True
    except OSError:
        return False


def locate(stack: ExitStack) -> tuple[str, str]:
    """(amqp_url, admin postgres url) for this test run."""
    amqp = os.environ.get("GATEHOUSE_AMQP_URL")
    postgres = os.environ.get("GATEHOUSE_TEST_ADMIN_DATABASE_URL")
    if amqp is None:
        if _answers(LOCAL_AMQP, 5672):
            amqp = LOCAL_AMQP
        else:
            from testcontainers.rabbitmq import RabbitMqContainer

            rabbit = stack.enter_context(RabbitMqContainer("rabbitmq:4-management"))
            params = rabbit.get_connection_params()
            amqp = f"amqp://guest:guest@{params.host}:{params.port}/"
    if postgres is None:
        if _answers(LOCAL_POSTGRES, 5432):
            postgres = LOCAL_POSTGRES
        else:
            from testcontainers.postgres import PostgresContainer

            pg = stack.enter_context(PostgresContainer("postgres:16", driver=None))
            postgres = pg.get_connection_url()
    return amqp, postgres


def database_url(admin_url: str, name: str) -> str:
    return urlsplit(admin_url)._replace(path=f"/{name}").geturl()
