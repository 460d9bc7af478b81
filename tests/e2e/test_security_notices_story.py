"""An account owner told of every change to their account (issue 16), through all three
services and a real SMTP server: identity's events carry the owner and their locale, the
notifier mails them in it, once; on an email change the old address hears of it too."""

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
from tests.support import call, eventually, random_email, running

PASSWORD, NEW_PASSWORD = "correct-horse-1", "battery-staple-2"
CODE = re.compile(r"Your code is (\d{6})\.")
CLIENT = {"client_ip": "203.0.113.7", "user_agent": "Firefox/140"}


class Owner:
    def __init__(self, rpc: RpcClient, sink: SmtpSink, events: EventTap) -> None:
        self.rpc, self.sink, self.events = rpc, sink, events

    async def ok(self, command: Any, body: dict[str, Any]) -> dict[str, Any]:
        reply = await call(self.rpc, command, body)
        assert reply["ok"], reply
        result: dict[str, Any] = reply["result"]
        return result

    async def code(self, to: str, scenario: str) -> str:
        before = len(self.sink.mails[to])
        await self.ok(
            verification.send_code, {"send_to": to, "scenario": scenario, "channel": "email"}
        )
        mails = await eventually(lambda: len(self.sink.mails[to]) > before and self.sink.mails[to])
        found = CODE.search(parts(mails[-1])[0])
        assert found is not None
        return found.group(1)

    async def subjects(self, to: str, count: int) -> list[str]:
        mails = await eventually(lambda: len(self.sink.mails[to]) >= count and self.sink.mails[to])
        return [m["Subject"] for m in mails]


@pytest.fixture
async def owner(make_settings) -> AsyncIterator[Owner]:
    sink = SmtpSink()
    sink.start()
    try:
        settings = make_settings(
            smtp_url=sink.url,
            mail_from=MAIL_FROM,
            notify_channels=["email"],
            mfa="optional",
            mfa_email=True,  # the owner's one verified contact is an email
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
            yield Owner(rpc, sink, events)
    finally:
        sink.stop()


async def test_the_owner_is_told_of_each_change_in_their_language_once(owner):
    old, new = random_email(), random_email()
    code = await owner.code(old, "register")
    registered = await owner.ok(
        v1.register,
        {
            "email": old,
            "code": code,
            "password": PASSWORD,
            "properties": {"locale": "fr"},
            "login": True,
        },
    )
    token = registered["session"]["token"]

    change = {"token": token, "old_password": PASSWORD, "new_password": NEW_PASSWORD}
    await owner.ok(v1.change_password, {**change, "client": CLIENT})
    changed = (await owner.subjects(old, 2))[1]
    assert changed == "Votre mot de passe a été modifié"
    mail = owner.sink.mails[old][1]
    assert mail["Content-Language"] == "fr" and mail["From"] == MAIL_FROM
    assert "Firefox/140 (203.0.113.7)" in parts(mail)[0]

    code = await owner.code(new, "bind")
    await owner.ok(v1.bind_contact, {"token": token, "email": new, "code": code})
    removed = await owner.subjects(old, 3)
    assert removed[2] == "Une adresse e-mail a été retirée de votre compte"
    added = await owner.subjects(new, 2)  # the bind code, then the notice
    assert added[1] == "Une adresse e-mail a été ajoutée à votre compte"

    await owner.ok(v1.set_mfa, {"token": token, "enabled": True})
    turned_on = await owner.subjects(new, 3)
    assert turned_on[2] == "La connexion en deux étapes a été activée"

    # One mail per change: the notification events say which templates went out, each once.
    sent = await eventually(
        lambda: (
            (
                found := [
                    e["data"]["template"]
                    for e in owner.events.of_type("notification.sent.v1")
                    if e["data"]["template"].startswith("security_")
                ]
            )
            and len(found) >= 4
            and found
        )
    )
    assert sorted(sent) == [
        "security_contact_added",
        "security_contact_removed",
        "security_mfa_changed",
        "security_password_changed",
    ]
    assert len(owner.sink.mails[old]) == 3 and len(owner.sink.mails[new]) == 3


async def test_a_replayed_remember_token_signs_every_holder_out_and_mails_the_owner(owner):
    # Issue 22: a thief copied the remember token and used it first; the owner's device
    # presents it next. Both lose the chain's sessions, and the owner hears of it.
    email = random_email()
    code = await owner.code(email, "register")
    await owner.ok(
        v1.register,
        {"email": email, "code": code, "password": PASSWORD, "properties": {"locale": "fr"}},
    )
    signed = await owner.ok(v1.login, {"email": email, "password": PASSWORD, "remember": True})
    thief = await owner.ok(v1.auto_login, {"remember_token": signed["remember_token"]})
    replay = await call(
        owner.rpc, v1.auto_login, {"remember_token": signed["remember_token"], "client": CLIENT}
    )
    assert replay["error"]["code"] == "login_required"
    for token in (signed["session"]["token"], thief["session"]["token"]):
        gone = await call(owner.rpc, v1.get_user, {"token": token})
        assert gone["error"]["code"] == "login_required"
    told = (await owner.subjects(email, 2))[1]
    assert told == "Une connexion mémorisée de votre compte a servi deux fois"
    assert "Firefox/140 (203.0.113.7)" in parts(owner.sink.mails[email][1])[0]
