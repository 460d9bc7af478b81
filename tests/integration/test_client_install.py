"""Another service's view of Gatehouse (issue 14): a process with only gatehouse-client
installed, nothing of this repository on its path, runs a custom channel and makes typed RPC
calls against the verification service this test runs."""

import asyncio
import json
import uuid

from services.verification.app import build
from tests.client_support import SERVICE_ONLY_IMPORTS, ClientVenv
from tests.support import random_email, running

OTHER_SERVICE = """
import asyncio, json, os, sys

from gatehouse.channels import BrokerSettings, ChannelWorker, CustomChannel
from contracts.verification import v1
from gatehouse.rpc import RemoteError, RpcClient


async def main():
    settings = BrokerSettings()  # GATEHOUSE_AMQP_URL, GATEHOUSE_NAMESPACE, ... as given
    name, send_to = os.environ["CHANNEL"], os.environ["SEND_TO"]
    delivered = asyncio.get_running_loop().create_future()

    async def deliver(delivery):
        if not delivered.done():
            delivered.set_result(delivery)

    worker = ChannelWorker([CustomChannel(name, "email", deliver)], settings)
    await worker.start()
    try:
        url = settings.amqp_url.get_secret_value()
        async with RpcClient(url, settings.topology, timeout_s=10) as rpc:
            sent = await rpc.result(
                v1.send_code, v1.SendCode(send_to=send_to, scenario="register", channel=name)
            )
            delivery = await asyncio.wait_for(delivered, 10)
            wrong = f"{(int(delivery.code) + 1) % 1_000_000:06d}"
            try:
                await rpc.result(
                    v1.check_code, v1.CheckCode(send_to=send_to, scenario="register", code=wrong)
                )
            except RemoteError as exc:
                refused = exc.code
            checked = await rpc.result(
                v1.check_code,
                v1.CheckCode(send_to=send_to, scenario="register", code=delivery.code),
            )
            unknown = await rpc.call_raw("verification.no_such_command.v1", b"{}")
    finally:
        await worker.stop()
    print(json.dumps({
        "sent": type(sent).__module__ + "." + type(sent).__name__,
        "delivered_to": delivery.send_to,
        "refused": type(refused).__module__ + "." + str(refused),
        "checked": checked.verified,
        "unknown": json.loads(unknown)["error"]["code"],
        "loaded": sorted({m.split(".")[0] for m in sys.modules}),
    }))


asyncio.run(main())
"""


async def test_another_service_delivers_and_checks_a_code_with_only_the_client_installed(
    make_settings, client_venv: ClientVenv
):
    settings = make_settings()
    email = random_email()
    async with running(build(settings)):
        output = await asyncio.to_thread(
            client_venv.run,
            OTHER_SERVICE,
            GATEHOUSE_AMQP_URL=settings.amqp_url.get_secret_value(),
            GATEHOUSE_NAMESPACE=settings.namespace,
            GATEHOUSE_QUEUE_TYPE="classic",
            # The channel registry is one table per database, shared by every namespace.
            CHANNEL=f"pigeon-{uuid.uuid4().hex[:8]}",
            SEND_TO=email,
        )
    report = json.loads(output)
    assert report["sent"] == "contracts.verification.v1.CodeSent"
    assert report["delivered_to"] == email
    assert report["refused"] == "contracts.errors.code_invalid"
    assert report["checked"] is True
    assert report["unknown"] == "unknown_command"
    assert not set(report["loaded"]) & {*SERVICE_ONLY_IMPORTS, "services"}
