"""The unit of work with a fake pool: the flow's commit records the reply in its transaction,
a block left any other way rolls back, and no network call runs while the transaction is held."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest

from contracts.identity import v1
from contracts.topology import Topology
from gatehouse import _envelope as envelope
from gatehouse._publisher import Publisher
from gatehouse.rpc import RpcClient
from services.runtime import work
from services.runtime.work import NetworkInTransaction, UnitOfWork


class FakeTransaction:
    def __init__(self, log: list[Any]) -> None:
        self.log = log

    async def start(self) -> None:
        self.log.append("begin")

    async def commit(self) -> None:
        self.log.append("commit")

    async def rollback(self) -> None:
        self.log.append("rollback")


class FakeConnection:
    def __init__(self, log: list[Any]) -> None:
        self.log = log

    def transaction(self) -> FakeTransaction:
        return FakeTransaction(self.log)


class FakePool:
    def __init__(self) -> None:
        self.log: list[Any] = []

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[FakeConnection]:
        yield FakeConnection(self.log)


def unit_of_work() -> tuple[UnitOfWork, list[Any]]:
    pool = FakePool()

    async def record(con: Any, reply: bytes) -> None:
        pool.log.append(("record", reply))

    return UnitOfWork(cast(Any, pool), "m-1", envelope.ok, record), pool.log


async def test_the_commit_records_the_reply_inside_the_transaction_it_commits():
    uow, log = unit_of_work()
    async with uow.transaction():
        result = await uow.commit(v1.Done())
    assert result == v1.Done()
    assert log == ["begin", ("record", envelope.ok(v1.Done())), "commit"]
    assert uow.reply == envelope.ok(v1.Done())


async def test_the_commit_happens_where_the_flow_calls_it():
    uow, log = unit_of_work()
    with pytest.raises(ValueError):
        async with uow.transaction():
            await uow.commit(v1.Done())
            assert log[-1] == "commit"
            raise ValueError("after the commit")
    assert "rollback" not in log


async def test_a_block_that_raises_rolls_back_and_records_nothing():
    uow, log = unit_of_work()
    with pytest.raises(ValueError):
        async with uow.transaction():
            raise ValueError("refused")
    assert log == ["begin", "rollback"]
    assert uow.reply is None


async def test_a_block_left_without_a_commit_rolls_back_and_is_a_bug():
    uow, log = unit_of_work()
    with pytest.raises(RuntimeError, match=r"without uow\.commit"):
        async with uow.transaction():
            pass
    assert log == ["begin", "rollback"]


async def test_a_unit_of_work_commits_once():
    uow, _ = unit_of_work()
    async with uow.transaction():
        await uow.commit(v1.Done())
    with pytest.raises(RuntimeError, match="committed once"):
        async with uow.transaction():
            pass


async def test_an_rpc_call_inside_the_transaction_fails_and_rolls_it_back():
    uow, log = unit_of_work()
    rpc = RpcClient("amqp://nowhere/", Topology("t"), guard=work.forbid_network)
    with pytest.raises(NetworkInTransaction, match="an RPC call to verification"):
        async with uow.transaction():
            await rpc.call_raw("verification.send_code.v1", b"{}")
    assert log == ["begin", "rollback"]


async def test_a_publish_inside_the_transaction_fails():
    uow, _ = unit_of_work()
    publisher = Publisher("amqp://nowhere/", guard=work.forbid_network)
    with pytest.raises(NetworkInTransaction, match=r"a publish to t\.delivery"):
        async with uow.transaction():
            await publisher.publish("t.delivery", "email", b"{}", message_id="x")


async def test_the_network_is_open_again_once_the_transaction_ends():
    uow, _ = unit_of_work()
    async with uow.transaction():
        await uow.commit(v1.Done())
    work.forbid_network("a call after the commit")  # does not raise


async def test_a_flow_may_name_why_its_transaction_waits_on_the_network():
    uow, _ = unit_of_work()
    async with uow.transaction():
        with work.network_inside("the code commits only once its delivery is confirmed"):
            work.forbid_network("a confirmed publish")  # does not raise
        with pytest.raises(NetworkInTransaction):
            work.forbid_network("a publish after the exemption")
        await uow.commit(v1.Done())
