"""One user's life through all three services, with every mail caught by a real SMTP server:
register with a code read from the mail, log in, reset the password with a token read from
the mail (and be told of the reset), deregister; every lifecycle and notification event is
seen on the events exchange, and none carries a secret."""

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from contracts.identity import v1
from contracts.verification import v1 as verification
from gatehouse.rpc import RpcClient
from services.identity.app import build as build_identity
from services.notifier.app import build as build_notifier
from services.verification.app import build as build_verification
from tests.identity_support import EventTap, tap
from tests.notifier_support import MAIL_FROM, SmtpSink, parts
from tests.support import call, error_code, eventually, random_email, running

PASSWORD = "correct-horse-1"
NEW_PASSWORD = "battery-staple-2"
CODE = re.compile(r"Your code is (\d{6})\.")
RESET_TOKEN = re.compile(r"Your reset token is: ([A-Za-z0-9_-]{16,})")
USER_EVENTS = [
    "user.registered.v1",
    "user.logged_in.v1",
    "user.password_reset.v1",
    "user.logged_in.v1",
    "user.deregistered.v1",
]


class Story:
    def __init__(self, rpc: RpcClient, sink: SmtpSink, events: EventTap) -> None:
        self.rpc, self.sink, self.events = rpc, sink, events
        self.secrets: list[str] = [PASSWORD, NEW_PASSWORD]

    async def call(self, command: Any, body: dict[str, Any]) -> dict[str, Any]:
        reply = await call(self.rpc, command, body)
        assert reply["ok"], reply
        result: dict[str, Any] = reply["result"]
        return result

    async def mailed(self, to: str, pattern: re.Pattern[str], nth: int) -> str:
        """The secret in the `nth` mail to `to` (text and html parts agree on it)."""
        mails = await eventually(lambda: len(self.sink.mails[to]) >= nth and self.sink.mails[to])
        mail = mails[nth - 1]
        assert mail["From"] == MAIL_FROM and mail["To"] == to
        text, html = parts(mail)
        found = pattern.search(text)
        assert found is not None, text
        secret = found.group(1)
        assert secret in html
        self.secrets.append(secret)
        return secret

    def notifications(self) -> list[dict[str, Any]]:
        return [e for e in self.events.bodies() if e["type"].startswith("notification.")]


@pytest.fixture
async def story(make_settings) -> AsyncIterator[Story]:
    sink = SmtpSink()
    sink.start()
    try:
        settings = make_settings(smtp_url=sink.url, mail_from=MAIL_FROM, notify_channels=["email"])
        services = (
            build_verification(settings),
            build_identity(settings),
            build_notifier(settings),
        )
        amqp = settings.amqp_url.get_secret_value()
        async with (
            running(*services),
            tap(settings, settings.topology.events) as events,
            RpcClient(amqp, settings.topology, timeout_s=10) as rpc,
        ):
            yield Story(rpc, sink, events)
    finally:
        sink.stop()


async def test_register_login_reset_and_deregister_with_every_mail_over_smtp(story):
    email = random_email()

    # Register with the code the verification service mailed through the notifier.
    sent = {"send_to": email, "scenario": "register", "channel": "email"}
    await story.call(verification.send_code, sent)
    code = await story.mailed(email, CODE, nth=1)
    registered = await story.call(v1.register, {"email": email, "code": code, "password": PASSWORD})
    uid = registered["user"]["id"]
    assert registered["user"]["email_verified"]

    # Log in with the password.
    first = await story.call(v1.login, {"email": email, "password": PASSWORD})
    first_token = first["session"]["token"]
    story.secrets.append(first_token)

    # Reset the password with the token identity mailed (through its outbox and the notifier).
    await story.call(v1.send_password_reset_token, {"email": email})
    token = await story.mailed(email, RESET_TOKEN, nth=2)
    reset = await story.call(
        v1.reset_password_with_token,
        {"email": email, "token": token, "new_password": NEW_PASSWORD},
    )
    session = reset["session"]["token"]
    story.secrets.append(session)
    assert error_code(await call(story.rpc, v1.authenticate, {"token": first_token})) == (
        "login_required"
    )
    assert error_code(await call(story.rpc, v1.login, {"email": email, "password": PASSWORD})) == (
        "invalid_credentials"
    )

    # Deregister with the new password: every trace of the user goes.
    await story.call(v1.deregister, {"token": session, "password": NEW_PASSWORD})
    assert error_code(await call(story.rpc, v1.authenticate, {"token": session})) == (
        "login_required"
    )

    # Every event, in order: the user's life, and one sent notification per mail.
    await story.events.event("user.deregistered.v1", uid)
    lived = [e for e in story.events.bodies() if e.get("subject") == uid]
    assert [e["type"] for e in lived] == USER_EVENTS
    assert [e["data"]["method"] for e in lived if e["type"] == "user.logged_in.v1"] == [
        "email_password",
        "password_reset",
    ]
    assert lived[2]["data"]["method"] == "token"
    assert lived[4]["data"]["contacts"] == [{"type": "email", "value": email}]
    notifications = await eventually(
        lambda: len(story.notifications()) >= 3 and story.notifications()
    )
    # The reset also tells the owner their password changed (a security notice).
    assert [(e["type"], e["data"]["template"]) for e in notifications] == [
        ("notification.sent.v1", "register"),
        ("notification.sent.v1", "send_password_token"),
        ("notification.sent.v1", "security_password_reset"),
    ]
    for event in story.events.bodies():
        text = json.dumps(event)
        assert not any(secret in text for secret in story.secrets), event["type"]
