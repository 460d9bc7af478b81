"""A verification code by email, end to end: verification → broker → notifier → SMTP."""

import re

from contracts.verification import v1
from gatehouse.rpc import RpcClient
from services.notifier.app import build as build_notifier
from services.verification.app import build as build_verification
from tests.notifier_support import SmtpSink, parts
from tests.support import call, error_code, random_email, running

CODE = re.compile(r"\b(\d{6})\b")


async def test_a_code_sent_by_email_arrives_by_smtp_and_checks_out(make_settings):
    sink = SmtpSink()
    sink.start()
    try:
        settings = make_settings(smtp_url=sink.url, notify_channels=["email"])
        verification = build_verification(settings)
        notifier = build_notifier(settings)
        async with running(verification, notifier):
            amqp = settings.amqp_url.get_secret_value()
            async with RpcClient(amqp, settings.topology, timeout_s=5) as rpc:
                email = random_email()
                sent = await call(
                    rpc,
                    v1.send_code,
                    {"send_to": email, "scenario": "register", "channel": "email"},
                )
                assert sent["ok"], sent
                text, html = parts(await sink.mail(email))
                codes = set(CODE.findall(text)) | set(CODE.findall(html))
                assert len(codes) == 1
                code = codes.pop()
                assert code in text and code in html
                check = {"send_to": email, "scenario": "register", "code": code}
                assert (await call(rpc, v1.check_code, check))["ok"]
                assert error_code(await call(rpc, v1.check_code, check)) == "code_invalid"
    finally:
        sink.stop()
