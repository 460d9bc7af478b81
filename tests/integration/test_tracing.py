"""With GATEHOUSE_OTEL_ENABLED a command is traced, and the caller's trace continues in it."""

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from contracts.verification import v1
from gatehouse.rpc import RpcClient
from services.verification.app import build
from tests.support import call, inbox_channels, random_email, running

exporter = InMemorySpanExporter()


@pytest.fixture(scope="module")
def tracer_provider():
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider


async def test_a_command_span_continues_the_callers_trace(make_settings, tracer_provider):
    settings = make_settings(otel_enabled=True)
    async with (
        running(build(settings)),
        inbox_channels(settings, ("inbox", "email")) as inbox,
        RpcClient(
            settings.amqp_url.get_secret_value(), settings.topology, propagate_trace=True
        ) as rpc,
    ):
        tracer = trace.get_tracer("test")
        email = random_email()
        with tracer.start_as_current_span("caller") as caller:
            body = {"send_to": email, "scenario": "login", "channel": "inbox"}
            assert (await call(rpc, v1.send_code, body))["ok"]
        await inbox.code(email)
    trace_id = caller.get_span_context().trace_id
    spans = [s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id]
    names = {s.name for s in spans}
    assert any("verification.send_code.v1" in n for n in names), names
    # The delivery publish is part of the same trace.
    assert len(spans) >= 3, names
