"""Who is told about a change to their account, where, and what every built-in notice says
(issue 16), without a broker."""

from datetime import UTC, datetime

import pytest

from contracts.events import v1 as events
from contracts.hooks.v1 import Client
from services.notifier import notices
from services.notifier.notices import Recipient
from services.notifier.templates import Templates

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
EMAIL, PHONE = "ada@example.com", "+447911123456"


def owner(**fields) -> events.AccountOwner:
    return events.AccountOwner(**fields)


def changed(**owner_fields) -> events.UserPasswordChanged:
    return events.UserPasswordChanged(
        revoked_session_ids=[], user_id="u_1", owner=owner(**owner_fields)
    )


def test_the_verified_email_is_mailed():
    found = notices.recipients("password_changed", changed(email=EMAIL, email_verified=True))
    assert found == [Recipient("email", EMAIL, "owner")]


def test_a_text_goes_out_when_the_phone_is_the_only_verified_contact():
    data = changed(email=EMAIL, phone=PHONE, phone_verified=True)
    assert notices.recipients("password_changed", data) == [Recipient("sms", PHONE, "owner")]


def test_an_unverified_contact_is_never_told():
    # Issue 22: an unverified email may be a victim's address an attacker registered with;
    # a notice would tell the victim about the attacker's account, or the reverse.
    assert notices.recipients("password_changed", changed(email=EMAIL)) == []
    assert notices.recipients("password_changed", changed(phone=PHONE)) == []
    both = changed(email=EMAIL, phone=PHONE)
    assert notices.recipients("mfa_changed", both) == []


def test_an_event_without_an_owner_tells_nobody():
    assert (
        notices.recipients(
            "password_changed", events.UserPasswordChanged(revoked_session_ids=[], user_id="u")
        )
        == []
    )


def test_a_new_contact_is_announced_to_another_contact_when_there_is_one():
    data = events.UserContactBound(
        user_id="u_1",
        contact=events.Contact(type="email", value="new@example.com"),
        owner=owner(email="new@example.com", email_verified=True, phone=PHONE, phone_verified=True),
    )
    assert notices.recipients("contact_bound", data) == [Recipient("sms", PHONE, "owner")]
    alone = data.model_copy(update={"owner": owner(email="new@example.com", email_verified=True)})
    assert notices.recipients("contact_bound", alone) == [
        Recipient("email", "new@example.com", "owner")
    ]


def test_a_removed_verified_email_is_told_at_that_address():
    data = events.UserContactUnbound(
        user_id="u_1",
        contact=events.Contact(type="email", value="old@example.com"),
        verified=True,
        owner=owner(email="new@example.com", email_verified=True),
    )
    assert notices.recipients("contact_unbound", data) == [
        Recipient("email", "old@example.com", "removed")
    ]


def test_a_removed_unverified_email_is_not_told_the_owner_is():
    # A claim taken over (issue 22): the address belongs to whoever proved it, not to the
    # account that lost it; that account's owner hears of it at a verified contact, if any.
    data = events.UserContactUnbound(
        user_id="u_1",
        contact=events.Contact(type="email", value="victim@example.com"),
        verified=False,
        owner=owner(phone=PHONE, phone_verified=True),
    )
    assert notices.recipients("contact_unbound", data) == [Recipient("sms", PHONE, "owner")]
    alone = data.model_copy(update={"owner": owner()})
    assert notices.recipients("contact_unbound", alone) == []


def test_a_removed_phone_is_texted_only_if_it_was_verified():
    removed = events.Contact(type="phone", value=PHONE)
    verified = events.UserContactUnbound(
        user_id="u_1", contact=removed, verified=True, owner=owner(email=EMAIL)
    )
    assert notices.recipients("contact_unbound", verified) == [Recipient("sms", PHONE, "removed")]
    unverified = verified.model_copy(
        update={"verified": False, "owner": owner(email=EMAIL, email_verified=True)}
    )
    assert notices.recipients("contact_unbound", unverified) == [Recipient("email", EMAIL, "owner")]


def test_the_locale_comes_from_the_owner_and_defaults_to_english():
    assert notices.locale_of(changed(email=EMAIL, locale="fr")) == "fr"
    assert notices.locale_of(changed(email=EMAIL)) == "en"


SAMPLES = {
    "password_changed": events.UserPasswordChanged(
        revoked_session_ids=[],
        user_id="u",
        client=Client(client_ip="203.0.113.7", user_agent="Firefox"),
    ),
    "password_reset": events.UserPasswordReset(revoked_session_ids=[], user_id="u", method="token"),
    "contact_bound": events.UserContactBound(
        user_id="u", contact=events.Contact(type="phone", value=PHONE)
    ),
    "contact_unbound": events.UserContactUnbound(
        user_id="u", contact=events.Contact(type="email", value=EMAIL)
    ),
    "mfa_changed": events.UserMfaChanged(revoked_session_ids=[], user_id="u", enabled=True),
    "factor_added": events.UserFactorAdded(
        revoked_session_ids=[], user_id="u", factor="totp", client=Client(client_ip="203.0.113.7")
    ),
    "factor_removed": events.UserFactorRemoved(user_id="u", factor="totp"),
    "recovery_code_used": events.UserRecoveryCodeUsed(user_id="u", remaining=9),
    "remember_token_reused": events.UserRememberTokenReused(
        revoked_session_ids=["s_1"], user_id="u", client=Client(client_ip="203.0.113.7")
    ),
}


@pytest.mark.parametrize("locale", ["en", "fr"])
@pytest.mark.parametrize("kind", sorted(notices.TEMPLATES))
def test_every_notice_renders_for_mail_and_sms_in_each_locale(kind, locale):
    context = notices.context(kind, SAMPLES[kind], NOW)
    templates = Templates()
    mail = templates.render(notices.TEMPLATES[kind], locale, "email", context)
    assert mail.locale == locale and mail.subject and "\n" not in mail.subject
    assert mail.text is not None and mail.html is not None
    assert "2026-01-01 12:00 UTC" in mail.text
    sms = templates.render(notices.TEMPLATES[kind], locale, "sms", context)
    assert sms.sms is not None and len(sms.sms) <= 160
    if kind == "password_changed":
        assert "Firefox (203.0.113.7)" in mail.text
    if kind in ("contact_bound", "contact_unbound"):
        assert context["contact"] not in (PHONE, EMAIL)  # masked
        assert context["contact"] in mail.text
