"""Fixtures: one namespace and one database per test run, real broker, real database."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack, asynccontextmanager
from typing import Any

import pytest

from contracts.topology import Topology
from services.runtime import db
from services.runtime.rpc import RpcClient
from services.runtime.service import Service
from services.runtime.settings import Settings
from tests import infra

RUN_ID = uuid.uuid4().hex[:8]
TEST_HMAC_KEY = "test-hmac-key-not-secret"


@pytest.fixture(scope="session")
def infrastructure() -> Any:
    with ExitStack() as stack:
        yield infra.locate(stack)


@pytest.fixture(scope="session")
async def database_url(infrastructure: tuple[str, str]) -> AsyncIterator[str]:
    _, admin = infrastructure
    name = f"gatehouse_test_{RUN_ID}"
    url = infra.database_url(admin, name)
    await db.ensure_database(url)
    yield url
    await infra.drop_database(admin, name)


@pytest.fixture(scope="session")
async def namespaces(infrastructure: tuple[str, str]) -> AsyncIterator[Callable[[], str]]:
    """Hands out fresh namespaces under this run's prefix; deletes all of them at the end."""
    amqp, _ = infrastructure
    prefix = f"ghtest-{RUN_ID}"
    counter = iter(range(1_000_000))
    yield lambda: f"{prefix}-{next(counter)}"
    await infra.delete_namespace(amqp, prefix)


@pytest.fixture(scope="session")
def make_settings(
    infrastructure: tuple[str, str], database_url: str, namespaces: Callable[[], str]
) -> Callable[..., Settings]:
    amqp, _ = infrastructure

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "amqp_url": amqp,
            "database_url": database_url,
            "namespace": namespaces(),
            "mode": "prod",
            "code_hmac_key": TEST_HMAC_KEY,
            "rpc_timeout_s": 5.0,
            # Quorum queues are made for long-lived queues; creating and deleting hundreds
            # per run is churn they are not designed for and can wedge a single node.
            # Tests that depend on quorum behaviour ask for it explicitly.
            "queue_type": "classic",
        }
        values.update(overrides)
        return Settings(**values)

    return make


@asynccontextmanager
async def running(*services: Service) -> AsyncIterator[None]:
    for service in services:
        await service.start()
    try:
        yield
    finally:
        for service in reversed(services):
            await service.stop()


@asynccontextmanager
async def rpc_client(topology: Topology, amqp_url: str) -> AsyncIterator[RpcClient]:
    async with RpcClient(amqp_url, topology, timeout_s=5.0) as client:
        yield client


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every async test shares the session loop, like the session fixtures they use.
    for item in items:
        if asyncio.iscoroutinefunction(getattr(item, "function", None)):
            item.add_marker(pytest.mark.asyncio(loop_scope="session"))
