"""Dev mode without providers: messages become files in the dev mailbox and stdout lines;
prod refuses that."""

import email
import email.policy

import pytest

from services.notifier.app import build
from services.notifier.providers import NotifierConfigError
from tests.notifier_support import code_delivery, eventually, parts, publish_delivery
from tests.support import random_email, random_phone, running


async def test_dev_mode_writes_eml_and_txt_files_and_prints_a_line_each(
    make_settings, tmp_path, capsys
):
    settings = make_settings(mode="dev", dev_mailbox_dir=str(tmp_path / "mailbox"))
    service = build(settings)
    amqp = settings.amqp_url.get_secret_value()
    mail_to, sms_to = random_email(), random_phone()
    mail, sms = code_delivery(mail_to), code_delivery(sms_to, channel="sms")
    async with running(service):
        for delivery in (mail, sms):
            await publish_delivery(amqp, settings.topology.delivery, delivery, delivery.channel)
        eml = await eventually(lambda: list((tmp_path / "mailbox").glob("*.eml")))
        txt = await eventually(lambda: list((tmp_path / "mailbox").glob("*.txt")))
    message = email.message_from_bytes(eml[0].read_bytes(), policy=email.policy.default)
    assert message["To"] == mail_to
    text, html = parts(message)
    assert mail.code in text and mail.code in html
    assert txt[0].read_text().startswith(f"To: {sms_to}\n")
    assert sms.code in txt[0].read_text()
    lines = [line for line in capsys.readouterr().out.splitlines() if "[mailbox]" in line]
    assert len(lines) == 2
    assert any(mail_to in line and str(eml[0]) in line for line in lines)
    assert any(sms_to in line and str(txt[0]) in line for line in lines)


def test_prod_mode_without_providers_fails_start_up_naming_the_settings(make_settings):
    with pytest.raises(NotifierConfigError) as caught:
        build(make_settings())
    message = str(caught.value)
    for name in (
        "GATEHOUSE_SMTP_URL",
        "GATEHOUSE_SMS_URL",
        "GATEHOUSE_SMS_ACCOUNT_SID",
        "GATEHOUSE_SMS_AUTH_TOKEN",
        "GATEHOUSE_SMS_FROM",
    ):
        assert name in message


def test_prod_mode_with_half_an_sms_configuration_names_what_is_missing(make_settings):
    with pytest.raises(NotifierConfigError) as caught:
        build(make_settings(notify_channels=["sms"], sms_url="http://127.0.0.1:1"))
    assert "GATEHOUSE_SMS_AUTH_TOKEN" in str(caught.value)
    assert "GATEHOUSE_SMS_URL" not in str(caught.value)


def test_prod_mode_serving_email_only_needs_only_smtp(make_settings):
    settings = make_settings(notify_channels=["email"], smtp_url="smtp://127.0.0.1:2525")
    service = build(settings)
    queue = settings.topology.consumer_queue
    assert queue("notifier", "email") in service.dead_lettered
    assert queue("notifier", "sms") not in service.dead_lettered


def test_a_malformed_smtp_url_fails_start_up_without_echoing_it(make_settings):
    with pytest.raises(NotifierConfigError) as caught:
        build(make_settings(notify_channels=["email"], smtp_url="http://user:hunter2@x"))
    assert "GATEHOUSE_SMTP_URL" in str(caught.value)
    assert "hunter2" not in str(caught.value)
