"""Input the database cannot store is `invalid_params`, never `internal_error` (issue 11,
finding 4): a NUL character in any string, NaN or an infinity in any JSON value, a NUL in the
`idempotency-key` header or the message id, swept over every command every service serves."""

import json
import math
from collections.abc import Callable
from typing import Any, cast

import pytest

from contracts import catalog
from contracts.examples import example
from contracts.topology import ADMIN, Command
from gatehouse.rpc import RpcClient
from services.identity.app import build as build_identity
from services.notifier.app import build as build_notifier
from services.verification.app import build as build_verification
from tests.identity_support import admin_client
from tests.support import error_code, error_fields, running

NUL = "a\x00b"


@pytest.fixture(scope="module")
async def rpc(make_settings, tmp_path_factory):
    settings = make_settings(mode="dev", dev_mailbox_dir=str(tmp_path_factory.mktemp("mail")))
    services = [build(settings) for build in (build_verification, build_identity, build_notifier)]
    async with (
        running(*services),
        RpcClient(settings.amqp_url.get_secret_value(), settings.topology, timeout_s=10) as rpc,
        admin_client(settings) as admin,
    ):
        # Operator commands travel on the admin exchange, with the caller's user_id.
        yield lambda command: admin if command.exchange == ADMIN else rpc


def takes_text(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "string" or any(takes_text(s) for s in schema.get("anyOf", []))


def spoiled(command: Command) -> list[tuple[str, dict[str, Any]]]:
    """(field, body) pairs: each field of a valid body replaced by something unstorable, and
    each optional text field the example leaves out given as such."""
    body = example(command.request)
    properties = command.request.model_json_schema()["properties"]
    cases: list[tuple[str, dict[str, Any]]] = [
        (name, {**body, name: NUL})
        for name, schema in properties.items()
        if name not in body and takes_text(schema)
    ]
    for field, value in body.items():
        if isinstance(value, str):
            cases.append((field, {**body, field: NUL}))
        elif isinstance(value, dict):
            cases.append((field, {**body, field: {"name": NUL}}))
            cases.append((field, {**body, field: {"name": {"deep": [1, math.inf]}}}))
            cases.append((field, {**body, field: {"name": math.nan}}))
            cases.append((field, {**body, field: {NUL: 1}}))
        elif isinstance(value, list) and value and isinstance(value[0], str):
            cases.append((field, {**body, field: [NUL]}))
    return cases


CASES = [
    pytest.param(command, field, body, id=f"{command.routing_key}:{field}:{n}")
    for command in catalog.COMMANDS
    for n, (field, body) in enumerate(spoiled(command))
]


def test_the_sweep_reaches_every_command():
    swept = {cast(Command[Any, Any], case.values[0]).routing_key for case in CASES}
    # A command that takes no field (identity.jwks.v1) has no value to spoil; the header and
    # message id sweeps below still reach it.
    takes_fields = {c.routing_key for c in catalog.COMMANDS if c.request.model_fields}
    assert swept == takes_fields


async def send(
    rpc: Callable[[Command], RpcClient], command: Command, body: dict[str, Any], **kw: Any
) -> dict:
    # Python's JSON writer spells NaN and the infinities as JavaScript does, as a caller could.
    raw = json.dumps(body, allow_nan=True).encode()
    # Each command on its own exchange (an internal one, notifier.send_security, included).
    exchange = rpc(command).topology.command_exchange(command)
    return json.loads(
        await rpc(command).call_raw(command.routing_key, raw, exchange=exchange, **kw)
    )


@pytest.mark.parametrize(("command", "field", "body"), CASES)
async def test_an_unstorable_value_is_invalid_params_naming_its_field(rpc, command, field, body):
    reply = await send(rpc, command, body)
    assert error_code(reply) == "invalid_params", reply
    assert any(f == field or f.startswith(f"{field}.") for f in error_fields(reply)), reply


@pytest.mark.parametrize("command", catalog.COMMANDS, ids=lambda c: c.routing_key)
async def test_a_nul_in_the_idempotency_key_is_invalid_params(rpc, command):
    reply = await send(rpc, command, example(command.request), idempotency_key=NUL)
    assert error_code(reply) == "invalid_params", reply
    assert error_fields(reply) == ["idempotency-key"]


@pytest.mark.parametrize("command", catalog.COMMANDS, ids=lambda c: c.routing_key)
async def test_a_nul_in_the_message_id_is_never_an_internal_error(rpc, command):
    reply = await send(rpc, command, example(command.request), message_id=NUL)
    assert error_code(reply) != "internal_error", reply
    if not command.read_only:
        assert error_fields(reply) == ["message_id"]
