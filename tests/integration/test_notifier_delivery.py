"""Notifier on the real broker and database, sending to a real SMTP server and HTTP API."""

import asyncio
import base64
import json
import logging
from datetime import UTC, datetime

import asyncpg
import pytest
from prometheus_client import REGISTRY

from contracts.notifier import v1 as notifier
from services.notifier import store
from services.notifier.domain import code_job, recipient_key
from services.runtime import db
from tests.notifier_support import (
    SENDER,
    SID,
    TOKEN,
    Env,
    code_delivery,
    eventually,
    notifier_env,
    parts,
    publish_delivery,
)
from tests.support import call, error_code, error_fields, random_email, random_phone


@pytest.fixture(scope="module")
async def env(make_settings):
    async with notifier_env(make_settings) as env:
        yield env


def sent_count(channel: str) -> float:
    labels = {"channel": channel, "outcome": "sent"}
    return REGISTRY.get_sample_value("gatehouse_notifications_total", labels) or 0.0


async def test_a_code_delivery_arrives_by_email_with_the_code_in_text_and_html(env):
    sent_before = sent_count("email")
    email = random_email()
    delivery = code_delivery(email, scenario="register")
    message_id = await env.deliver(delivery)
    mail = await env.sink.mail(email)
    text, html = parts(mail)
    assert delivery.code in text and delivery.code in html
    assert mail["Subject"] == "Confirm your email address"
    assert mail["To"] == email
    assert mail["From"] == "Gatehouse Tests <no-reply@gatehouse.test>"
    assert mail["Message-ID"] == f"<{message_id}@gatehouse.test>"
    event = await env.tap.outcome(message_id)
    assert event["type"] == "notification.sent.v1"
    assert event["source"] == "gatehouse/notifier"
    assert event["data"] == {
        "message_id": message_id,
        "channel": "email",
        "template": "register",
        "recipient": email[0] + "***@example.com",
        "attempts": 1,
        "outcome": "sent",
    }
    assert sent_count("email") == sent_before + 1


async def test_a_code_delivery_by_sms_is_a_twilio_style_form_post_with_basic_auth(env):
    phone = random_phone()
    delivery = code_delivery(phone, channel="sms")
    message_id = await env.deliver(delivery)
    request = await env.api.message(phone)
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert (
        request.headers["authorization"]
        == "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    )
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert set(request.form) == {"To", "From", "Body"}
    assert request.form["To"] == phone and request.form["From"] == SENDER
    assert delivery.code in request.form["Body"]
    event = await env.tap.outcome(message_id)
    assert event["type"] == "notification.sent.v1"
    assert event["data"]["recipient"] == phone[:3] + "*" * (len(phone) - 6) + phone[-3:]


async def test_smtp_421_twice_then_accepted_delivers_exactly_one_mail_after_backoff(env):
    email = random_email()
    env.sink.fail(email, "421 4.3.2 try again later", times=2)
    message_id = await env.deliver(code_delivery(email))
    event = await env.tap.outcome(message_id)
    assert event["type"] == "notification.sent.v1"
    assert event["data"]["attempts"] == 3
    await env.settled("email")
    assert len(env.sink.mails[email]) == 1
    assert len(env.sink.attempts[email]) == 3
    first, second, third = env.sink.attempts[email]
    # Delay queues hold the message at least their TTL: 100 ms, then 200 ms.
    assert second - first >= 0.09 and third - second >= 0.19


async def test_smtp_that_always_fails_dead_letters_after_five_attempts_with_a_failed_event(env):
    email = random_email()
    env.sink.fail(email, "451 4.3.0 temporary failure", times=None)
    message_id = await env.deliver(code_delivery(email))
    event = await env.tap.outcome(message_id)
    assert event["type"] == "notification.failed.v1"
    assert event["data"]["permanent"] is False
    assert event["data"]["attempts"] == 5
    assert "451" in event["data"]["reason"]
    await env.dead.wait_for(f"{env.queue('email')}.dlq", message_id)
    assert len(env.sink.attempts[email]) == 5
    assert env.sink.mails[email] == []


async def test_smtp_550_fails_at_once_without_retry(env):
    email = random_email()
    env.sink.fail(email, "550 5.1.1 no such user", times=None)
    message_id = await env.deliver(code_delivery(email))
    event = await env.tap.outcome(message_id)
    assert event["type"] == "notification.failed.v1"
    assert event["data"]["permanent"] is True
    assert event["data"]["attempts"] == 1
    assert event["data"]["reason"].startswith("smtp 550")
    await env.dead.wait_for(f"{env.queue('email')}.dlq", message_id)
    await env.settled("email")
    assert len(env.sink.attempts[email]) == 1


async def test_http_429_is_retried_after_its_retry_after(env):
    phone = random_phone()
    env.api.fail(phone, 429, {"Retry-After": "1"})
    message_id = await env.deliver(code_delivery(phone, channel="sms"))
    event = await env.tap.outcome(message_id)
    assert event["type"] == "notification.sent.v1"
    assert event["data"]["attempts"] == 2
    refused, accepted = env.api.requests[phone]
    assert (refused.status, accepted.status) == (429, 201)
    # Retry-After said one second; the base delay alone would have been 100 ms.
    assert accepted.at - refused.at >= 0.95


async def test_http_500_is_retried(env):
    phone = random_phone()
    env.api.fail(phone, 500, times=2)
    message_id = await env.deliver(code_delivery(phone, channel="sms"))
    event = await env.tap.outcome(message_id)
    assert event["type"] == "notification.sent.v1"
    assert [r.status for r in env.api.requests[phone]] == [500, 500, 201]


async def test_http_400_fails_at_once(env):
    phone = random_phone()
    env.api.fail(phone, 400, times=5)
    message_id = await env.deliver(code_delivery(phone, channel="sms"))
    event = await env.tap.outcome(message_id)
    assert event["type"] == "notification.failed.v1"
    assert event["data"]["permanent"] is True
    assert event["data"]["reason"] == "http 400: request refused"
    await env.dead.wait_for(f"{env.queue('sms')}.dlq", message_id)
    assert len(env.api.requests[phone]) == 1


async def test_the_same_delivery_published_twice_is_mailed_once(env):
    email = random_email()
    delivery = code_delivery(email)
    message_id = await env.deliver(delivery)
    await env.deliver(delivery, message_id=message_id)
    await env.sink.mail(email)
    await env.tap.outcome(message_id)
    await env.settled("email")
    assert len(env.sink.mails[email]) == 1
    assert [e["data"]["message_id"] for e in env.tap.events()].count(message_id) == 1


async def test_ten_concurrent_copies_of_one_message_are_mailed_once(env):
    email = random_email()
    delivery = code_delivery(email)
    message_id = "copy-" + email
    await asyncio.gather(*(env.deliver(delivery, message_id=message_id) for _ in range(10)))
    await env.sink.mail(email)
    await env.settled("email")
    assert len(env.sink.mails[email]) == 1
    assert [e["data"]["message_id"] for e in env.tap.events()].count(message_id) == 1


async def test_a_retried_message_published_again_is_still_mailed_once(env):
    email = random_email()
    env.sink.fail(email, "421 busy", times=1)
    delivery = code_delivery(email)
    message_id = await env.deliver(delivery)
    await eventually(lambda: env.sink.attempts[email])
    await env.deliver(delivery, message_id=message_id)  # arrives while the retry waits
    await env.tap.outcome(message_id)
    await env.settled("email")
    assert len(env.sink.mails[email]) == 1
    assert [e["data"]["message_id"] for e in env.tap.events()].count(message_id) == 1


async def test_a_message_claimed_by_a_consumer_that_died_mid_send_is_not_sent_again(env):
    # What a crash after the SMTP send leaves behind: the claim row, still `sending`.
    email = random_email()
    delivery = code_delivery(email)
    message_id = "crashed-" + email
    con = await asyncpg.connect(env.settings.database_url.get_secret_value())
    try:
        await con.execute(
            "INSERT INTO notifier.messages"
            " (message_id, channel, template, recipient_key, recipient_masked, status)"
            " VALUES ($1, 'email', 'login', $2, 'x', 'sending')",
            message_id,
            recipient_key(email),
        )
    finally:
        await con.close()
    await env.deliver(delivery, message_id=message_id)
    witness = random_email()  # a later message on the same queue proves the first was consumed
    await env.deliver(code_delivery(witness))
    await env.sink.mail(witness)
    assert email not in env.sink.attempts


async def test_notifier_send_security_mails_a_reset_token_through_the_legacy_placeholder(env):
    email = random_email()
    token = "tok-" + random_email().split("@")[0]
    reply = await call(
        env.rpc,
        notifier.send_security,
        {
            "channel": "email",
            "to": email.upper(),
            "template": "send_password_token",
            "data": {"password_reset_token": token},
        },
        exchange=env.settings.topology.internal,
    )
    assert reply["ok"], reply
    message_id = reply["result"]["message_id"]
    mail = await env.sink.mail(email)
    text, html = parts(mail)
    assert f"Your reset token is: {token}" in text
    assert token in html and "%PASSWORD_RESET_TOKEN%" not in text + html
    event = await env.tap.outcome(message_id)
    assert event["type"] == "notification.sent.v1"
    assert event["data"]["template"] == "send_password_token"
    assert token not in str(env.tap.events())


async def test_notifier_send_security_by_sms_is_retried_like_a_delivery(env):
    phone = random_phone()
    env.api.fail(phone, 503)
    reply = await call(
        env.rpc,
        notifier.send_security,
        {
            "channel": "sms",
            "to": phone,
            "template": "send_password_token",
            "locale": "fr",
            "data": {"password_reset_token": "abcdef123456"},
        },
        exchange=env.settings.topology.internal,
    )
    assert reply["ok"], reply
    event = await env.tap.outcome(reply["result"]["message_id"])
    assert event["data"]["attempts"] == 2
    body = (await env.api.message(phone)).form["Body"]
    assert body == "Votre jeton de réinitialisation : abcdef123456"


async def test_notifier_send_with_an_unknown_template_is_template_error_at_once(env):
    reply = await call(
        env.rpc,
        notifier.send_security,
        {"channel": "email", "to": random_email(), "template": "no_such_template"},
        exchange=env.settings.topology.internal,
    )
    assert error_code(reply) == "template_error"
    assert reply["error"]["status"] == 13
    assert "no_such_template" in reply["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        ({"channel": "fax", "to": "a@example.com", "template": "login"}, "channel"),
        ({"channel": "email", "to": "not-an-email", "template": "login"}, "to"),
        ({"channel": "sms", "to": "a@example.com", "template": "login"}, "to"),
        ({"channel": "email", "to": "a@example.com", "template": "../etc/passwd"}, "template"),
        ({"channel": "email", "to": "a@example.com", "template": "login", "x": 1}, "x"),
        (
            {"channel": "email", "to": "a@example.com", "template": "login", "locale": "??"},
            "locale",
        ),
        ({"channel": "email", "to": "a" * 400 + "@example.com", "template": "login"}, "to"),
    ],
)
async def test_bad_send_input_is_invalid_params_naming_the_field(env, body, field):
    reply = await call(env.rpc, notifier.send, body)
    assert error_code(reply) == "invalid_params", reply
    assert field in error_fields(reply)


async def test_a_missing_locale_falls_back_to_english_and_a_regional_one_to_its_language(env):
    german, canadian = random_email(), random_email()
    await env.deliver(code_delivery(german, locale="de"))
    await env.deliver(code_delivery(canadian, locale="fr-CA"))
    assert (await env.sink.mail(german))["Subject"] == "Your sign-in code"
    assert (await env.sink.mail(canadian))["Subject"] == "Votre code de connexion"


async def test_a_malformed_delivery_is_dead_lettered_and_the_consumer_goes_on(env):
    message_id = await publish_delivery(
        env.amqp, env.settings.topology.delivery, b'{"send_to": "x"}', "email"
    )
    await env.dead.wait_for(f"{env.queue('email')}.dlq", message_id)
    email = random_email()
    await env.deliver(code_delivery(email))
    await env.sink.mail(email)


async def test_a_deregistered_user_leaves_no_dedupe_rows(env):
    email, phone = random_email(), random_phone()
    for message_id in (
        await env.deliver(code_delivery(email)),
        await env.deliver(code_delivery(phone, channel="sms")),
    ):
        await env.tap.outcome(message_id)
    keys = [recipient_key(email), recipient_key(phone)]
    assert await _rows(env, keys) == 2
    event = {
        "specversion": "1.0",
        "id": "3c1f0f5e-0000-4000-8000-000000000001",
        "source": "gatehouse/identity",
        "type": "user.deregistered.v1",
        "time": datetime.now(UTC).isoformat(),
        "subject": "u_1",
        "datacontenttype": "application/json",
        "data": {
            "user_id": "u_1",
            "contacts": [{"type": "email", "value": email}, {"type": "phone", "value": phone}],
        },
    }
    await publish_delivery(
        env.amqp,
        env.settings.topology.events,
        json.dumps(event).encode(),
        "user.deregistered.v1",
    )
    for _ in range(100):
        if await _rows(env, keys) == 0:
            break
        await asyncio.sleep(0.05)
    assert await _rows(env, keys) == 0


async def _rows(env: Env, keys: list[bytes]) -> int:
    con = await asyncpg.connect(env.settings.database_url.get_secret_value())
    try:
        return await con.fetchval(
            "SELECT count(*) FROM notifier.messages WHERE recipient_key = ANY($1::bytea[])", keys
        )
    finally:
        await con.close()


async def test_no_code_or_token_appears_in_logs_or_events(env, caplog):
    caplog.set_level(logging.DEBUG)
    ok, retried, failed = random_email(), random_email(), random_email()
    env.sink.fail(retried, "421 busy", times=1)
    env.sink.fail(failed, "554 5.7.1 rejected", times=None)
    phone = random_phone()
    env.api.fail(phone, 500)
    deliveries = [code_delivery(to) for to in (ok, retried, failed)]
    deliveries.append(code_delivery(phone, channel="sms"))
    ids = [await env.deliver(d) for d in deliveries]
    for message_id in ids:
        await env.tap.outcome(message_id)
    codes = [d.code for d in deliveries]
    bodies = b"".join(env.tap.raw).decode()
    for code in codes:
        assert code not in caplog.text
        assert code not in bodies
    assert TOKEN not in caplog.text


async def test_twenty_concurrent_claims_of_one_message_let_exactly_one_through(env):
    # The consumer handles one message at a time, so two replicas are what race in
    # production; the claim itself is what must hold.
    pool = await db.create_pool(
        env.settings.database_url.get_secret_value(),
        "notifier",
        namespace=env.settings.namespace,
    )
    try:
        job = code_job("race-" + random_email(), code_delivery(random_email()), "email")
        first = await asyncio.gather(*(store.messages.claim(pool, job, 1) for _ in range(20)))
        assert first.count(True) == 1
        async with pool.acquire() as con:
            assert await store.messages.finish(con, job.message_id, "retrying", "smtp 421")
        second = await asyncio.gather(*(store.messages.claim(pool, job, 2) for _ in range(20)))
        assert second.count(True) == 1
        status = await store.messages.status_of(pool, job.message_id)
        assert status is not None and status.attempts == 2
    finally:
        await pool.close()
