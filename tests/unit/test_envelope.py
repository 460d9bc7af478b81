"""Reply envelopes: field paths for invalid params, and nothing of the input echoed."""

import json

import pytest
from pydantic import ValidationError

from contracts.verification.v1 import SendCode
from gatehouse import _envelope as envelope
from gatehouse.errors import InvalidParams
from services.shared.contacts import mask, normalize_email, normalize_phone


def invalid(body: bytes) -> dict:
    with pytest.raises(ValidationError) as caught:
        SendCode.model_validate_json(body)
    return json.loads(envelope.invalid_params(caught.value))


def test_invalid_params_names_each_field_and_never_echoes_the_value():
    reply = invalid(b'{"send_to": "s3cret-value", "scenario": "nope", "channel": "email", "z": 1}')
    assert reply["error"]["status"] == -32602
    fields = {f["field"] for f in reply["error"]["details"]["fields"]}
    assert fields == {"scenario", "z"}
    assert "s3cret-value" not in json.dumps(reply)


def test_malformed_json_is_named_body():
    reply = invalid(b"{not json")
    assert [f["field"] for f in reply["error"]["details"]["fields"]] == ["body"]


def test_the_outcome_label_is_ok_or_the_error_code():
    assert envelope.outcome(envelope.ok(None)) == "ok"
    assert envelope.outcome(envelope.from_exception(InvalidParams("x", "bad"))) == "invalid_params"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(" Ada@Example.COM ", "ada@example.com"), ("ada@EXAMPLE.com", "ada@example.com")],
)
def test_emails_normalise_to_one_spelling(raw, expected):
    assert normalize_email(raw) == expected


def test_phones_normalise_to_e164():
    assert normalize_phone("+44 7911 123456") == "+447911123456"
    assert normalize_phone("07911 123456", region="GB") == "+447911123456"
    with pytest.raises(InvalidParams):
        normalize_phone("07911 123456")  # no region: E.164 is required


def test_masking_keeps_enough_to_recognise():
    assert mask("ada@example.com") == "a***@example.com"
    assert mask("+447911123456") == "+44*******456"
