"""Seeds 000 and 001, "Bind Contact Information", by email, through all three services: a user
who signed up with a username binds an email with a "Bind account" code read from the mail a
real SMTP server caught, and the email becomes theirs: verified, announced, and a way in."""

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
from tests.support import call, error_code, eventually, random_email, random_username, running

PASSWORD = "correct-horse-1"
CODE = re.compile(r"Your code is (\d{6})\.")


class Mailbox:
    def __init__(self, rpc: RpcClient, sink: SmtpSink, events: EventTap) -> None:
        self.rpc, self.sink, self.events = rpc, sink, events

    async def ok(self, command: Any, body: dict[str, Any]) -> dict[str, Any]:
        reply = await call(self.rpc, command, body)
        assert reply["ok"], reply
        result: dict[str, Any] = reply["result"]
        return result

    async def code(self, to: str, scenario: str) -> str:
        """Send a `scenario` code to `to` by email and read it from the mail that arrives (a
        security notice may arrive meanwhile: the code's mail is the one with a code)."""
        before = len(self.sink.mails[to])
        await self.ok(
            verification.send_code, {"send_to": to, "scenario": scenario, "channel": "email"}
        )

        def found() -> str | None:
            for mail in self.sink.mails[to][before:]:
                assert mail["From"] == MAIL_FROM
                match = CODE.search(parts(mail)[0])
                if match:
                    return match.group(1)
            return None

        code: str = await eventually(found)
        return code


@pytest.fixture
async def mailbox(make_settings) -> AsyncIterator[Mailbox]:
    sink = SmtpSink()
    sink.start()
    try:
        settings = make_settings(
            smtp_url=sink.url,
            mail_from=MAIL_FROM,
            notify_channels=["email"],
            code_resend_cooldown_s=0,  # a bind, a login and a second bind code, back to back
        )
        services = (
            build_verification(settings),
            build_identity(settings),
            build_notifier(settings),
        )
        async with (
            running(*services),
            tap(settings, settings.topology.events) as events,
            RpcClient(settings.amqp_url.get_secret_value(), settings.topology, timeout_s=10) as rpc,
        ):
            yield Mailbox(rpc, sink, events)
    finally:
        sink.stop()


async def test_a_bind_code_read_from_the_mail_binds_the_email_and_signs_in_with_it(mailbox):
    username, email = random_username(), random_email()
    registered = await mailbox.ok(
        v1.register, {"username": username, "password": PASSWORD, "login": True}
    )
    uid, token = registered["user"]["id"], registered["session"]["token"]
    assert registered["user"]["email"] is None

    code = await mailbox.code(email, "bind")
    bound = await mailbox.ok(v1.bind_contact, {"token": token, "email": email, "code": code})
    assert bound["user"]["id"] == uid
    assert bound["user"]["email"] == email and bound["user"]["email_verified"]
    event = await mailbox.events.event("user.contact_bound.v1", uid)
    assert event["data"]["contact"] == {"type": "email", "value": email}
    assert code not in json.dumps(event) and token not in json.dumps(event)

    # The code was spent, and the bind is what a refresh of the user data shows.
    again = await call(mailbox.rpc, v1.bind_contact, {"token": token, "email": email, "code": code})
    assert error_code(again) == "code_invalid"
    me = await mailbox.ok(v1.get_user, {"token": token})
    assert me["user"]["email"] == email and me["user"]["email_verified"]

    # The email is now a way in: with the password, and with a login code mailed to it.
    by_password = await mailbox.ok(v1.login, {"email": email, "password": PASSWORD})
    assert by_password["user"]["id"] == uid
    login_code = await mailbox.code(email, "login")
    by_code = await mailbox.ok(v1.login, {"email": email, "code": login_code})
    assert by_code["user"]["id"] == uid

    # Another account cannot bind it: proved by its owner, it is taken.
    other = await mailbox.ok(
        v1.register, {"username": random_username(), "password": PASSWORD, "login": True}
    )
    code = await mailbox.code(email, "bind")
    body = {"token": other["session"]["token"], "email": email, "code": code}
    assert error_code(await call(mailbox.rpc, v1.bind_contact, body)) == "contact_taken"
