"""The fault suite, short: a few seconds of load per scenario on a RabbitMQ node and a
PostgreSQL cluster of its own (`python -m reliability --short` runs the same; the full run is
`python -m reliability`). Skipped where rabbitmq-server or the PostgreSQL binaries are not
installed.

Each scenario runs once; its tests read the one result.
"""

import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from reliability import postgres, rabbit
from reliability.__main__ import bench_for, strike
from reliability.bench import Bench
from reliability.lab import Lab, Options
from reliability.report import Result

pytestmark = [
    pytest.mark.skipif(rabbit.scripts() is None, reason="rabbitmq-server is not installed"),
    pytest.mark.skipif(not postgres.usable(), reason="PostgreSQL 15 binaries are not installed"),
    pytest.mark.timeout(240),
]


class Results:
    """Each scenario's bench, deployed in its first test's setup, and its one result.

    Deploying (three service processes and the channel, ~5 s) measures nothing: done in
    setup, it runs outside the lock that makes a fault test's call run alone
    (tests/conftest.py), and the call gives the machine back once the fault and the
    recovery are over (`measured`), before the audit."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._benches: dict[str, Bench] = {}
        self._done: dict[str, Result] = {}

    async def deploy(self, scenario: str) -> None:
        if scenario not in self._done and scenario not in self._benches:
            bench = await bench_for(self.lab, scenario, Options.short())
            self._benches[scenario] = await bench.__aenter__()

    async def __call__(self, scenario: str, measured: Callable[[], None]) -> Result:
        if scenario not in self._done:
            result = await strike(self._benches[scenario], measured)
            print(result.line(), result.detail_line(), sep="\n")
            self._done[scenario] = result
        return self._done[scenario]

    async def release(self, scenario: str) -> None:
        """Stop the scenario's processes once its result is in."""
        if scenario in self._benches and scenario in self._done:
            await self._benches.pop(scenario).__aexit__(None, None, None)

    async def close(self) -> None:
        """Stop what is still deployed (a test failed or was deselected before its call)."""
        while self._benches:
            await self._benches.popitem()[1].__aexit__(None, None, None)


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
        results = Results(lab)
        try:
            yield results
        finally:
            await results.close()
    finally:
        lab.close()
        signal.signal(signal.SIGTERM, previous)


Strike = Callable[[], Awaitable[Result]]


def _scenario(name: str) -> Any:
    """A fixture that deploys scenario `name` in the test's setup and hands the test a
    call that runs its fault (once: the scenario's other tests read the same result)."""

    @pytest_asyncio.fixture(name=name, loop_scope="session")
    async def fixture(results: Results, measured: Callable[[], None]) -> AsyncIterator[Strike]:
        await results.deploy(name)
        yield lambda: results(name, measured)
        await results.release(name)

    return fixture


kill9 = _scenario("kill9")
broker_restart = _scenario("broker_restart")
poison_command = _scenario("poison_command")
poison_event = _scenario("poison_event")


def clean(result: Result) -> tuple[int, int, int, int]:
    return result.lost, result.duplicated, result.wrong_replies, result.stuck_codes


async def test_kill9_of_the_services_applies_and_answers_every_command_once(kill9: Strike) -> None:
    result = await kill9()
    assert (result.duplicated, result.wrong_replies) == (0, 0), result.detail_line()


async def test_kill9_of_the_services_loses_nothing_and_recovers(kill9: Strike) -> None:
    result = await kill9()
    assert (result.lost, result.stuck_codes) == (0, 0), result.detail_line()
    assert result.recovery_s is not None, result.detail_line()


async def test_broker_restart_loses_nothing_and_leaves_no_code_stuck(
    broker_restart: Strike,
) -> None:
    result = await broker_restart()
    assert clean(result) == (0, 0, 0, 0), result.detail_line()


async def test_broker_restart_every_kind_of_command_is_served_again(broker_restart: Strike) -> None:
    result = await broker_restart()
    assert result.recovery_s is not None, result.detail_line()
    assert result.details.get("client_rebuilds", 0) == 0, result.detail_line()


async def test_poison_commands_get_their_error_reply(poison_command: Strike) -> None:
    result = await poison_command()
    assert result.wrong_replies == 0, result.detail_line()


async def test_poison_commands_do_not_stop_consuming(poison_command: Strike) -> None:
    result = await poison_command()
    assert (result.lost, result.duplicated, result.stuck_codes) == (0, 0, 0)
    assert result.recovery_s is not None and result.recovery_s < 5, result.detail_line()


async def test_a_poison_event_is_dead_lettered_by_every_consumer(poison_event: Strike) -> None:
    result = await poison_event()
    assert clean(result) == (0, 0, 0, 0), result.detail_line()
    assert result.recovery_s is not None, result.detail_line()
