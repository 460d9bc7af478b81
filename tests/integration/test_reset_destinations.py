"""Where a reset token may go (issue 22, point 4): the caller names a template and an address
field only from the operator's lists, and the mail goes only to the account's verified email.
A thief with a stolen session cannot point the reset mail at a mailbox of their own and keep
the account after the session is revoked."""

import pytest

from contracts.identity import v1
from contracts.notifier import v1 as notifier
from services.identity import store
from tests.identity_support import PASSWORD, env_settings, identity_env, tap
from tests.support import error_code, error_fields, random_email


@pytest.fixture(scope="module")
async def env(make_settings):
    # The operator lists `backupEmail` as an address field callers may name.
    settings = env_settings(
        make_settings, reset_mail_properties=["email", "username", "_username", "backupEmail"]
    )
    async with (
        identity_env(settings) as env,
        tap(settings, settings.topology.internal, notifier.send_security.routing_key) as mails,
    ):
        env.mails = mails
        yield env


async def nothing_mailed(env, user: dict, address: str) -> None:
    """A witness request queued after: once its mail is out, the earlier request was handled
    (the worker takes requests in order, a token with its mail in one statement)."""
    witness = random_email()
    await env.register_verified(witness, login=False)
    assert (await env.call(v1.send_password_reset_token, {"email": witness}))["ok"]
    await env.mails.wait_for(lambda b: b.get("to") == witness, wait_s=15)
    counts = await store.users.user_data_counts(env.identity.pool, user["user"]["id"])
    assert counts["reset_tokens"] == 0
    assert address not in [b.get("to") for b in env.mails.bodies()]


async def test_a_stolen_session_cannot_point_the_reset_mail_at_the_thiefs_address(env):
    owner = await env.register_verified(random_email())
    stolen, thief = owner["session"]["token"], random_email()
    username = owner["user"]["username"]
    saved = await env.call(
        v1.save_properties,
        {"token": stolen, "properties": {"contactMail": thief, "backupEmail": thief}},
    )
    assert saved["ok"], saved
    # A field the operator did not list: refused, naming the field.
    unlisted = {"username": username, "email_property_name": "contactMail"}
    reply = await env.call(v1.send_password_reset_token, unlisted)
    assert error_code(reply) == "invalid_params"
    assert error_fields(reply) == ["email_property_name"]
    # A listed field counts only when it holds the verified email: the thief's does not.
    listed = {"username": username, "email_property_name": "backupEmail"}
    assert (await env.call(v1.send_password_reset_token, listed))["ok"]
    await nothing_mailed(env, owner, thief)


async def test_a_listed_field_holding_the_verified_email_is_mailed(env):
    email = random_email()
    owner = await env.register_verified(email, properties={"backupEmail": email.upper()})
    body = {"username": owner["user"]["username"], "email_property_name": "backupEmail"}
    assert (await env.call(v1.send_password_reset_token, body))["ok"]
    mail = await env.mails.wait_for(lambda b: b.get("to") == email, wait_s=15)
    assert mail["template"] == "send_password_token"


async def test_a_template_the_operator_did_not_list_is_refused(env):
    owner = await env.register_verified(random_email())
    body = {"username": owner["user"]["username"], "template_name": "look_like_your_bank"}
    reply = await env.call(v1.send_password_reset_token, body)
    assert error_code(reply) == "invalid_params"
    assert error_fields(reply) == ["template_name"]


async def test_an_unverified_email_gets_no_reset_mail(env):
    # Someone registered with an address they never proved (perhaps a victim's): a reset
    # token mailed there would hand the account to whoever reads that mailbox, or tell a
    # stranger about it.
    claimed = random_email()
    user = await env.register(email=claimed, login=False)
    by_username = {"username": user["user"]["username"]}
    assert (await env.call(v1.send_password_reset_token, by_username))["ok"]
    assert (await env.call(v1.send_password_reset_token, {"email": claimed}))["ok"]
    await nothing_mailed(env, user, claimed)
    assert (await env.call(v1.login, {"email": claimed, "password": PASSWORD}))["ok"]


async def test_the_seed_004_options_still_mail_the_verified_address(env):
    # Seed 004: sendPasswordResetToken("username", {emailPropertyName: "email"}), with the
    # default template named; and the username as the address (`_username`).
    email = random_email()
    owner = await env.register_verified(email, username=email, login=False)
    for field in ("email", "_username"):
        body = {
            "username": owner["user"]["username"],
            "email_property_name": field,
            "template_name": "send_password_token",
        }
        assert (await env.call(v1.send_password_reset_token, body))["ok"]
    await env.mails.wait_for(
        lambda b: [m.get("to") for m in env.mails.bodies()].count(email) >= 2, wait_s=15
    )


async def test_by_default_the_mail_goes_to_the_verified_email_the_seeds_username_or_not(env):
    # Seed 004's emailPropertyName defaults to `_username`; ours to `email` (README). Where the
    # username is the verified address both name it; where the username is another address,
    # the mail goes to the verified one, never to the username the seed would have used.
    assert env.settings.reset_token_email_property == "email"
    same = random_email()
    await env.register_verified(same, username=same, login=False)
    assert (await env.call(v1.send_password_reset_token, {"username": same}))["ok"]
    await env.mails.wait_for(lambda b: b.get("to") == same, wait_s=15)
    verified, unproved = random_email(), random_email()
    await env.register_verified(verified, username=unproved, login=False)
    assert (await env.call(v1.send_password_reset_token, {"username": unproved}))["ok"]
    await env.mails.wait_for(lambda b: b.get("to") == verified, wait_s=15)
    assert unproved not in [b.get("to") for b in env.mails.bodies()]
