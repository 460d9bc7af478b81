"""The suite's fixtures are plugins (`tests/fixtures/`); nothing here is imported by tests."""

import asyncio

import pytest

pytest_plugins = ("tests.fixtures.infrastructure", "tests.fixtures.client")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every async test shares the session loop, like the session fixtures they use.
    for item in items:
        if asyncio.iscoroutinefunction(getattr(item, "function", None)):
            item.add_marker(pytest.mark.asyncio(loop_scope="session"))
