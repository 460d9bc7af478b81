"""Security notices on a running notifier (issue 16): each lifecycle event it consumes for
them ends as one mail (or text) to the account's owner at a real SMTP server (or SMS API),
with the template and locale of the event, once however often the event arrives."""

import logging
from typing import Any

import pytest

from contracts.events import v1 as events
from contracts.hooks.v1 import Client
from contracts.topology import Event
from services.runtime.outbox import cloud_event
from tests.notifier_support import notifier_env, parts
from tests.support import eventually, random_email, random_phone

SOURCE = "gatehouse/identity"


@pytest.fixture(scope="module")
async def env(make_settings):
    async with notifier_env(make_settings) as env:
        yield env


def event(spec, data):
    return cloud_event(spec, data, source=SOURCE, subject=data.user_id)


def owner(email=None, phone=None, locale=None, **verified) -> events.AccountOwner:
    return events.AccountOwner(email=email, phone=phone, locale=locale, **verified)


async def test_a_password_change_is_mailed_once_in_the_owners_language(env):
    email = random_email()
    changed = event(
        events.user_password_changed,
        events.UserPasswordChanged(
            revoked_session_ids=[],
            user_id="u_1",
            owner=owner(email, locale="fr", email_verified=True),
            client=Client(client_ip="203.0.113.7", user_agent="Firefox"),
        ),
    )
    await env.publish(changed)
    await env.publish(changed)  # a redelivery, or the relay publishing twice
    mail = await env.sink.mail(email)
    assert mail["Subject"] == "Votre mot de passe a été modifié"
    assert mail["Content-Language"] == "fr"
    text, html = parts(mail)
    assert "Firefox (203.0.113.7)" in text and "Firefox (203.0.113.7)" in html
    outcome = await env.tap.outcome(f"{changed.id}.owner")
    assert outcome["data"]["template"] == "security_password_changed"
    # A witness behind the duplicate on the same queues: once it is mailed, so was anything
    # the duplicate could have caused.
    witness_email = random_email()
    witness = event(
        events.user_password_changed,
        events.UserPasswordChanged(
            revoked_session_ids=[], user_id="u_2", owner=owner(witness_email, email_verified=True)
        ),
    )
    await env.publish(witness)
    await env.sink.mail(witness_email)
    await env.settled("email")
    assert len(env.sink.mails[email]) == 1


async def test_each_kind_uses_its_template(env):
    cases: list[tuple[Event[Any], dict[str, Any], str]] = [
        (
            events.user_password_reset,
            {"method": "code", "revoked_session_ids": []},
            "Your password was reset",
        ),
        (
            events.user_mfa_changed,
            {"enabled": False, "revoked_session_ids": []},
            "Two-step sign-in was turned off",
        ),
        (events.user_factor_added, {"factor": "totp"}, "An authenticator app was added"),
        (events.user_factor_removed, {"factor": "totp"}, "An authenticator app was removed"),
        (events.user_recovery_code_used, {"remaining": 9}, "A recovery code was used"),
        (
            events.user_contact_bound,
            {"contact": events.Contact(type="phone", value=random_phone())},
            "A phone number was added to your account",
        ),
        (
            events.user_remember_token_reused,
            {"revoked_session_ids": ["s_1", "s_2"]},
            "A saved sign-in of your account was used twice",
        ),
    ]
    for spec, fields, subject in cases:
        email = random_email()
        data = spec.data(user_id="u_3", owner=owner(email, email_verified=True), **fields)
        await env.publish(event(spec, data))
        mail = await env.sink.mail(email)
        assert mail["Subject"] == subject, spec.type


async def test_a_replaced_email_is_told_at_the_old_address(env):
    old, new = random_email(), random_email()
    removed = events.UserContactUnbound(
        user_id="u_4",
        contact=events.Contact(type="email", value=old),
        verified=True,
        owner=owner(new, email_verified=True),
    )
    added = events.UserContactBound(
        user_id="u_4",
        contact=events.Contact(type="email", value=new),
        owner=owner(new, email_verified=True),
    )
    await env.publish(event(events.user_contact_unbound, removed))
    await env.publish(event(events.user_contact_bound, added))
    old_mail = await env.sink.mail(old)
    assert old_mail["Subject"] == "An email address was removed from your account"
    new_mail = await env.sink.mail(new)
    assert new_mail["Subject"] == "An email address was added to your account"


async def test_the_owner_whose_only_verified_contact_is_a_phone_gets_a_text(env):
    phone = random_phone()
    data = events.UserPasswordReset(
        revoked_session_ids=[],
        user_id="u_5",
        method="token",
        owner=owner(random_email(), phone, phone_verified=True),
    )
    await env.publish(event(events.user_password_reset, data))
    request = await env.api.message(phone)
    assert request.form["Body"].startswith("Your password was reset on ")


async def test_a_kind_turned_off_is_consumed_and_not_sent(make_settings, caplog):
    caplog.set_level(logging.DEBUG, logger="gatehouse.notifier")
    async with notifier_env(make_settings, security_notices=["password_reset"]) as env:
        quiet, loud = random_email(), random_email()
        changed = event(
            events.user_password_changed,
            events.UserPasswordChanged(
                revoked_session_ids=[], user_id="u_6", owner=owner(quiet, email_verified=True)
            ),
        )
        reset = events.UserPasswordReset(
            revoked_session_ids=[],
            user_id="u_6",
            method="code",
            owner=owner(loud, email_verified=True),
        )
        await env.publish(changed)
        await env.publish(event(events.user_password_reset, reset))
        await env.sink.mail(loud)
        # Consumed (so its queue does not fill up) and dropped: nothing was queued to send.
        await eventually(lambda: f"notice of {changed.id} not sent: turned off" in caplog.text)
        assert quiet not in env.sink.mails


async def test_an_address_nobody_proved_hears_nothing_of_the_account(env):
    # Issue 22: an attacker registers with a victim's address and no code, then changes the
    # password, resets it, turns two-factor on, loses the address: none of it may reach the
    # victim's mailbox (nor tell a claimant about the account of whoever proved the address).
    victim = random_email()
    for spec, fields in (
        (events.user_password_changed, {"revoked_session_ids": []}),
        (events.user_password_reset, {"method": "code", "revoked_session_ids": []}),
        (events.user_mfa_changed, {"enabled": True, "revoked_session_ids": []}),
        (events.user_contact_unbound, {"contact": events.Contact(type="email", value=victim)}),
    ):
        data = spec.data(user_id="u_7", owner=owner(victim), **fields)
        await env.publish(event(spec, data))
        # A witness behind it on the same notice queue: once it is mailed, the first was handled.
        witness = random_email()
        told = spec.data(user_id="u_8", owner=owner(witness, email_verified=True), **fields)
        await env.publish(event(spec, told))
        await env.sink.mail(witness)
    await env.settled("email")
    assert victim not in env.sink.mails
