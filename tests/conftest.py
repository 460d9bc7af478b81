"""The suite's fixtures are plugins (`tests/fixtures/`); nothing here is imported by tests."""

import asyncio
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ("tests.fixtures.infrastructure", "tests.fixtures.client")

FAULTS = Path(__file__).parent / "faults"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every async test shares the session loop, like the session fixtures they use.
    for item in items:
        if asyncio.iscoroutinefunction(getattr(item, "function", None)):
            item.add_marker(pytest.mark.asyncio(loop_scope="session"))


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """Under pytest-xdist (the README's `-n 2`), a fault test runs alone: it kills and
    restarts processes and measures how long the system takes to recover, which a test on
    the other worker would slow down. Every other test holds a shared lock, a fault test an
    exclusive one; taken outside pytest-timeout's clock (tryfirst), so waiting for the other
    worker's test is not counted against this one."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run is None:
        yield
        return
    alone = FAULTS in Path(str(item.path)).parents
    path = Path(tempfile.gettempdir()) / f"gatehouse-tests-{run}.lock"
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
