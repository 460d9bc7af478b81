"""Every change that should end a challenge ends it (issue 22, point 8). A two-factor sign-in
waiting for its code and a reset token waiting in a mailbox were issued against the account
as it was: someone who started a sign-in with a stolen password, or holds a mailbox the owner
just replaced, must not finish it after the owner changed the password, a contact or the
two-factor setting. (A disable and a deregistration already ended both: see
test_disabled_accounts.py and the foreign keys' ON DELETE CASCADE.)"""

from dataclasses import dataclass

import pytest

from contracts.identity import v1, v2
from tests.identity_support import PASSWORD, env_settings, identity_env, valid_phone
from tests.support import error_code, random_email, random_username

NEW_PASSWORD = "another-horse-3"


@pytest.fixture(scope="module")
async def env(make_settings):
    async with identity_env(env_settings(make_settings, mfa="optional")) as env:
        yield env


@dataclass
class Pending:
    session: str
    username: str
    email: str
    phone: str
    mfa_token: str | None  # a password sign-in waiting for its second factor
    reset_token: str  # mailed, not used


async def verify_phone(env, session: str, phone: str) -> dict:
    start = {"token": session, "type": "phone", "contact": phone, "channel": "inbox-sms"}
    assert (await env.call(v1.start_contact_verification, start))["ok"]
    code = await env.inbox.code(phone)
    reply = await env.call(v1.confirm_contact, {"token": session, "code": code})
    assert reply["ok"], reply
    return reply["result"]


async def pending(env, *, mfa: bool = True) -> Pending:
    """A verified email and phone, two-factor login on (unless told), and both challenges."""
    email, phone, username = random_email(), valid_phone(), random_username()
    user = await env.register_verified(email, username=username)
    session = user["session"]["token"]
    await verify_phone(env, session, phone)
    mfa_token = None
    if mfa:
        assert (await env.call(v1.set_mfa, {"token": session, "enabled": True}))["ok"]
        challenge = await env.call(v1.login, {"username": username, "password": PASSWORD})
        assert challenge["ok"] and challenge["result"]["mfa_required"], challenge
        mfa_token = challenge["result"]["mfa_token"]
    reset_token = await env.mailed_reset_token(username)
    return Pending(session, username, email, phone, mfa_token, reset_token)


async def assert_ended(env, p: Pending) -> None:
    if p.mfa_token is not None:
        send = {"mfa_token": p.mfa_token, "contact_id": "phone", "channel": "inbox-sms"}
        assert error_code(await env.call(v1.send_mfa_code, send)) == "token_invalid"
    reset = {"username": p.username, "token": p.reset_token, "new_password": "thief-chose-it-9"}
    assert error_code(await env.call(v2.reset_password_with_token, reset)) == "token_invalid"


async def test_a_password_change_ends_them(env):
    p = await pending(env)
    change = {"token": p.session, "old_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert (await env.call(v1.change_password, change))["ok"]
    await assert_ended(env, p)


async def test_a_reset_by_code_ends_them(env):
    p = await pending(env)
    code = await env.code(p.email, "reset_password")
    reset = {"email": p.email, "code": code, "new_password": NEW_PASSWORD}
    assert (await env.call(v1.reset_password, reset))["ok"]
    await assert_ended(env, p)


async def test_a_reset_by_token_ends_the_others_and_keeps_its_own_challenge(env):
    p = await pending(env)
    used = await env.mailed_reset_token(p.username)
    body = {"username": p.username, "token": used, "new_password": NEW_PASSWORD}
    reply = await env.call(v2.reset_password_with_token, body)
    assert reply["ok"] and reply["result"]["mfa_required"], reply
    await assert_ended(env, p)
    # The challenge the reset itself opened is alive.
    opened = reply["result"]["mfa_token"]
    send = {"mfa_token": opened, "contact_id": "phone", "channel": "inbox-sms"}
    assert (await env.call(v1.send_mfa_code, send))["ok"]


async def test_turning_two_factor_off_ends_them(env):
    p = await pending(env)
    assert (await env.call(v1.set_mfa, {"token": p.session, "enabled": False}))["ok"]
    await assert_ended(env, p)


async def test_turning_two_factor_on_ends_outstanding_reset_tokens(env):
    p = await pending(env, mfa=False)
    assert (await env.call(v1.set_mfa, {"token": p.session, "enabled": True}))["ok"]
    await assert_ended(env, p)


async def test_binding_a_contact_ends_them(env):
    p = await pending(env)
    new = random_email()
    code = await env.code(new, "bind")
    bound = await env.call(v1.bind_contact, {"token": p.session, "email": new, "code": code})
    assert bound["ok"], bound
    await assert_ended(env, p)


async def test_unbinding_a_contact_ends_them(env):
    p = await pending(env)
    code = await env.code(p.phone, "unbind")
    body = {"token": p.session, "contact_type": "phone", "code": code}
    assert (await env.call(v1.unbind_contact, body))["ok"]
    await assert_ended(env, p)


async def test_confirming_a_contact_ends_them(env):
    p = await pending(env)
    await verify_phone(env, p.session, valid_phone())
    await assert_ended(env, p)


async def test_losing_a_claimed_contact_ends_the_claimants_challenges(env):
    # The claimant registered with an address it never proved, and has a verified phone and
    # two-factor login; whoever proves the address takes it, and what the claimant had
    # pending ends with the change.
    claimed, phone, username = random_email(), valid_phone(), random_username()
    claimant = await env.register(email=claimed, username=username)
    session = claimant["session"]["token"]
    await verify_phone(env, session, phone)
    assert (await env.call(v1.set_mfa, {"token": session, "enabled": True}))["ok"]
    challenge = await env.call(v1.login, {"username": username, "password": PASSWORD})
    mfa_token = challenge["result"]["mfa_token"]
    await env.register_verified(claimed)
    send = {"mfa_token": mfa_token, "contact_id": "phone", "channel": "inbox-sms"}
    assert error_code(await env.call(v1.send_mfa_code, send)) == "token_invalid"
