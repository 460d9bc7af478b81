"""JSON log lines carry the correlation id of the message being handled."""

import io
import json
import logging

from services.runtime import logs


def test_json_lines_carry_the_correlation_id():
    logs.configure("INFO", json_lines=True)
    stream = io.StringIO()
    handler = logging.getLogger().handlers[0]
    handler.setStream(stream)  # type: ignore[attr-defined]  # configure() adds a StreamHandler
    token = logs.correlation_id.set("c0ffee")
    try:
        logging.getLogger("gatehouse.test").info("handled %s", "send_code")
    finally:
        logs.correlation_id.reset(token)
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["message"] == "handled send_code"
    assert line["correlation_id"] == "c0ffee"
    assert line["level"] == "INFO"


def test_transport_debug_logs_stay_off_whatever_the_root_level():
    logs.configure("DEBUG")
    assert logging.getLogger("aiormq").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("aio_pika").getEffectiveLevel() == logging.WARNING
