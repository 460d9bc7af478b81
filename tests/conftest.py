"""The suite's fixtures are plugins (`tests/fixtures/`); nothing here is imported by tests."""

import asyncio
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

pytest_plugins = ("tests.fixtures.infrastructure", "tests.fixtures.client")

FAULTS = Path(__file__).parent / "faults"
# The run's lock file, open for the test being run (see pytest_runtest_protocol).
LOCK = pytest.StashKey[IO[str]]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every async test shares the session loop, like the session fixtures they use.
    for item in items:
        if asyncio.iscoroutinefunction(getattr(item, "function", None)):
            item.add_marker(pytest.mark.asyncio(loop_scope="session"))


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """Under pytest-xdist (the README's `-n 2`), a fault test runs alone: it kills and
    restarts processes and measures how long the system takes to recover, which a test on
    the other worker would slow down. Every test holds a shared lock from its setup to its
    teardown, taken outside pytest-timeout's clock (tryfirst), so waiting for the other
    worker's test is not counted against this one; a fault test's call makes it exclusive
    (`pytest_runtest_call`)."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run is None:
        yield
        return
    path = Path(tempfile.gettempdir()) / f"gatehouse-tests-{run}.lock"
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        item.stash[LOCK] = lock
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Only a fault test's call runs alone: its setup and teardown start and remove its own
    RabbitMQ node and PostgreSQL cluster, which measure nothing and may share the machine.
    Turning the shared lock exclusive waits for the other worker's test to end; waiting
    counts against the fault test's own (generous) timeout. The test may share the machine
    again before its call ends (`measured`)."""
    lock = item.stash.get(LOCK, None)
    if lock is None or FAULTS not in Path(str(item.path)).parents:
        yield
        return
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(lock, fcntl.LOCK_SH)


@pytest.fixture
def measured(request: pytest.FixtureRequest) -> Callable[[], None]:
    """For a fault test: call it once the part of the call that measures is over (the
    fault and the recovery under load); what follows, the audit of what the fault left,
    asserts nothing that depends on timing, so it shares the machine again."""
    lock = request.node.stash.get(LOCK, None)

    def share() -> None:
        if lock is not None:
            fcntl.flock(lock, fcntl.LOCK_SH)

    return share
