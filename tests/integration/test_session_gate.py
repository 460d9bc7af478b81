"""One gate for every session (issue 11, findings 1 and 2): the post-login hooks and the
two-factor policy apply to auto_login, reset_password_with_token and register with login as
they do to login; remember tokens carry the factors of the sign-in that issued them."""

import pytest

from contracts.identity import v1, v2
from contracts.notifier import v1 as notifier
from tests.hooks_support import hooks_running
from tests.identity_support import PASSWORD, env_settings, identity_env, tap, valid_phone
from tests.support import error_code, random_email, random_username

NEW_PASSWORD = "another-horse-2"


@pytest.fixture(scope="module")
async def env(make_settings):
    settings = env_settings(
        make_settings,
        mfa="optional",
        hook_post_login_timeout_s=1.0,
        hook_post_login_policy="fail_closed",
    )
    async with identity_env(settings) as env:
        yield env


async def login(env, username: str, **extra) -> dict:
    return await env.call(v1.login, {"username": username, "password": PASSWORD, **extra})


async def mailed_reset_token(env, username: str) -> str:
    mails_exchange = env.settings.topology.internal
    async with tap(env.settings, mails_exchange, notifier.send_security.routing_key) as mails:
        reply = await env.call(v1.send_password_reset_token, {"username": username})
        assert reply["ok"], reply
        mail = await mails.wait_for(lambda b: True, wait_s=15)
    return mail["data"]["password_reset_token"]


async def user_with_verified_phone(env, *, email_verified: bool = False) -> tuple[dict, str]:
    """Registered with an email it never verified (unless told), a phone verified afterwards."""
    email = random_email()
    user = await (env.register_verified(email) if email_verified else env.register(email=email))
    token, phone = user["session"]["token"], valid_phone()
    start = {"token": token, "type": "phone", "contact": phone, "channel": "inbox-sms"}
    assert (await env.call(v1.start_contact_verification, start))["ok"]
    code = await env.inbox.code(phone)
    assert (await env.call(v1.confirm_contact, {"token": token, "code": code}))["ok"]
    return user, phone


async def finish_with_phone_code(env, mfa_token: str, phone: str, **extra) -> dict:
    send = {"mfa_token": mfa_token, "contact_id": "phone", "channel": "inbox-sms"}
    assert (await env.call(v1.send_mfa_code, send))["ok"]
    code = await env.inbox.code(phone)
    reply = await env.call(v1.verify_mfa, {"mfa_token": mfa_token, "code": code, **extra})
    assert reply["ok"], reply
    return reply["result"]


async def test_a_post_login_deny_stops_auto_login_and_the_reset_with_token_too(env):
    user = await env.register_verified(random_email(), login=False)
    username = user["user"]["username"]
    remember = (await login(env, username, remember=True))["result"]["remember_token"]
    reset_token = await mailed_reset_token(env, username)
    denied_id = user["user"]["id"]

    async def deny_this_user(event, api):
        if event.user.id == denied_id:
            api.access.deny("blocked", "This account is blocked")

    async with hooks_running(env.settings, ("post_login", deny_this_user, 100)):
        assert error_code(await login(env, username)) == "access_denied"
        auto = await env.call(v1.auto_login, {"remember_token": remember})
        assert error_code(auto) == "access_denied"
        reset = {"username": username, "token": reset_token, "new_password": NEW_PASSWORD}
        assert error_code(await env.call(v1.reset_password_with_token, reset)) == "access_denied"
    # Nothing was spent on the denied attempts: the tokens work once the hook is gone.
    again = await env.call(v1.auto_login, {"remember_token": remember})
    assert again["ok"], again
    assert (await env.call(v1.reset_password_with_token, reset))["ok"]


async def test_turning_mfa_on_revokes_the_other_sessions_and_earlier_remember_tokens(env):
    user, _ = await user_with_verified_phone(env)
    username = user["user"]["username"]
    other = (await login(env, username, remember=True))["result"]
    current = user["session"]["token"]
    reply = await env.call(v1.set_mfa, {"token": current, "enabled": True})
    assert reply["ok"], reply
    gone = await env.call(v1.authenticate, {"token": other["session"]["token"]})
    assert error_code(gone) == "login_required"
    assert (await env.call(v1.authenticate, {"token": current}))["ok"]
    auto = await env.call(v1.auto_login, {"remember_token": other["remember_token"]})
    assert error_code(auto) == "login_required"


async def test_a_remember_token_from_before_mfa_does_not_sign_in_without_a_code(env):
    user, _ = await user_with_verified_phone(env)
    username = user["user"]["username"]
    current = (await login(env, username, remember=True))["result"]
    await env.call(v1.set_mfa, {"token": current["session"]["token"], "enabled": True})
    # Even the remember token of the session that turned MFA on proved a password only.
    auto = await env.call(v1.auto_login, {"remember_token": current["remember_token"]})
    assert error_code(auto) == "login_required"


async def test_a_remember_token_from_a_two_factor_sign_in_signs_in_again_and_chains(env):
    user, phone = await user_with_verified_phone(env)
    username = user["user"]["username"]
    await env.call(v1.set_mfa, {"token": user["session"]["token"], "enabled": True})
    challenge = (await login(env, username, remember=True))["result"]
    assert challenge["mfa_required"] is True
    signed = await finish_with_phone_code(env, challenge["mfa_token"], phone)
    first = await env.call(v1.auto_login, {"remember_token": signed["remember_token"]})
    assert first["ok"], first
    second = await env.call(v1.auto_login, {"remember_token": first["result"]["remember_token"]})
    assert second["ok"], second


async def test_a_reset_token_never_stands_in_for_the_second_factor(env):
    # The token goes to the verified email: a mailbox, which is never a second factor.
    user, phone = await user_with_verified_phone(env, email_verified=True)
    username = user["user"]["username"]
    await env.call(v1.set_mfa, {"token": user["session"]["token"], "enabled": True})
    token = await mailed_reset_token(env, username)
    body = {"username": username, "token": token, "new_password": NEW_PASSWORD}

    refused = await env.call(v1.reset_password_with_token, body)
    assert error_code(refused) == "invalid_operation"
    still = await login(env, username)  # version 1 changed nothing: the old password works
    assert still["ok"] and still["result"]["mfa_required"] is True

    reply = await env.call(v2.reset_password_with_token, body)
    assert reply["ok"], reply
    result = reply["result"]
    assert result["mfa_required"] is True and result["session"] is None
    assert [c["id"] for c in result["contacts"]] == ["email", "phone"]
    signed = await finish_with_phone_code(env, result["mfa_token"], phone)
    assert signed["session"]["token"]
    relogin = await env.call(v1.login, {"username": username, "password": NEW_PASSWORD})
    assert relogin["ok"] and relogin["result"]["mfa_required"] is True


async def test_without_mfa_a_reset_with_token_version_2_signs_in(env):
    user = await env.register_verified(random_email(), login=False)
    username = user["user"]["username"]
    token = await mailed_reset_token(env, username)
    body = {"username": username, "token": token, "new_password": NEW_PASSWORD}
    reply = await env.call(v2.reset_password_with_token, body)
    assert reply["ok"], reply
    assert reply["result"]["session"]["token"] and reply["result"]["mfa_required"] is False


async def test_register_with_login_runs_the_post_login_hooks(env):
    async def deny_everyone(event, api):
        api.access.deny("closed", "Sign-ups are closed")

    username = random_username()
    async with hooks_running(env.settings, ("post_login", deny_everyone, 100)):
        reply = await env.call(
            v1.register, {"username": username, "password": PASSWORD, "login": True}
        )
    assert error_code(reply) == "access_denied"
    # The deny refused the registration as a whole: the name is still free.
    assert (await env.call(v1.validate_registration, {"username": username}))["ok"]


async def test_where_mfa_is_required_register_with_login_opens_a_session_only_after_a_code(
    make_settings,
):
    async with identity_env(env_settings(make_settings, mfa="required")) as env:
        email = random_email()
        code = await env.code(email, "register")
        with_code = await env.call(
            v1.register, {"email": email, "code": code, "password": PASSWORD, "login": True}
        )
        assert with_code["ok"] and with_code["result"]["session"]["token"]

        password_only = await env.call(
            v1.register, {"username": random_username(), "password": PASSWORD, "login": True}
        )
        assert password_only["ok"], password_only
        assert password_only["result"]["session"] is None
        assert password_only["result"]["mfa_required"] is True

        # A code login proved a contact: its remember token signs in again without another.
        login_code = await env.code(email, "login")
        signed = await env.call(v1.login, {"email": email, "code": login_code, "remember": True})
        auto = await env.call(v1.auto_login, {"remember_token": signed["result"]["remember_token"]})
        assert auto["ok"], auto
