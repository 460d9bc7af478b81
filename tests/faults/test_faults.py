"""The fault suite, short: a few seconds of load per scenario on a RabbitMQ node and a
PostgreSQL cluster of its own (`python -m reliability --short` runs the same; the full run is
`python -m reliability`). Skipped where rabbitmq-server or the PostgreSQL binaries are not
installed.

Each scenario runs once; its tests read the one result.
"""

import asyncio
import signal
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from reliability import postgres, rabbit
from reliability.__main__ import run_scenario
from reliability.lab import Lab, Options
from reliability.report import Result

pytestmark = [
    pytest.mark.skipif(rabbit.scripts() is None, reason="rabbitmq-server is not installed"),
    pytest.mark.skipif(not postgres.usable(), reason="PostgreSQL 15 binaries are not installed"),
    pytest.mark.timeout(240),
]


class Results:
    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._done: dict[str, Result] = {}
        self._lock = asyncio.Lock()

    async def __call__(self, scenario: str) -> Result:
        async with self._lock:
            if scenario not in self._done:
                result = await run_scenario(self.lab, scenario, Options.short())
                print(result.line(), result.detail_line(), sep="\n")
                self._done[scenario] = result
        return self._done[scenario]


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def results() -> AsyncIterator[Results]:
    # A SIGTERM (a CI run being stopped) must still stop the nodes: pytest tears fixtures
    # down on KeyboardInterrupt, while the default SIGTERM action just ends the process.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    lab = Lab()
    try:
        # Booted here, in the first test's setup, outside the lock that makes a fault test's
        # call run alone (tests/conftest.py): every scenario of this module uses both.
        await lab.postgres()
        await lab.rabbit()
        yield Results(lab)
    finally:
        lab.close()
        signal.signal(signal.SIGTERM, previous)


def clean(result: Result) -> tuple[int, int, int, int]:
    return result.lost, result.duplicated, result.wrong_replies, result.stuck_codes


async def test_kill9_of_the_services_applies_and_answers_every_command_once(
    results: Results,
) -> None:
    result = await results("kill9")
    assert (result.duplicated, result.wrong_replies) == (0, 0), result.detail_line()


async def test_kill9_of_the_services_loses_nothing_and_recovers(results: Results) -> None:
    result = await results("kill9")
    assert (result.lost, result.stuck_codes) == (0, 0), result.detail_line()
    assert result.recovery_s is not None, result.detail_line()


async def test_broker_restart_loses_nothing_and_leaves_no_code_stuck(results: Results) -> None:
    result = await results("broker_restart")
    assert clean(result) == (0, 0, 0, 0), result.detail_line()


async def test_broker_restart_every_kind_of_command_is_served_again(results: Results) -> None:
    result = await results("broker_restart")
    assert result.recovery_s is not None, result.detail_line()
    assert result.details.get("client_rebuilds", 0) == 0, result.detail_line()


async def test_poison_commands_get_their_error_reply(results: Results) -> None:
    result = await results("poison_command")
    assert result.wrong_replies == 0, result.detail_line()


async def test_poison_commands_do_not_stop_consuming(results: Results) -> None:
    result = await results("poison_command")
    assert (result.lost, result.duplicated, result.stuck_codes) == (0, 0, 0)
    assert result.recovery_s is not None and result.recovery_s < 5, result.detail_line()


async def test_a_poison_event_is_dead_lettered_by_every_consumer(results: Results) -> None:
    result = await results("poison_event")
    assert clean(result) == (0, 0, 0, 0), result.detail_line()
    assert result.recovery_s is not None, result.detail_line()
