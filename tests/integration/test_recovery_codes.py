"""Recovery codes (issue 24): ten single-use codes shown once when the first authenticator
app is confirmed, each a second factor for `verify_mfa` with `factor: recovery_code`, spent
by the sign-in's own transaction, replaced with a step-up, and told to the owner when used."""

import asyncio
import logging
import re

import pyotp
import pytest

from contracts.identity import v1
from services.identity.domain import token_digest
from services.identity.service import IdentityService
from tests.identity_support import PASSWORD, env_settings, identity_env, tap
from tests.support import error_code

NOW = 1_900_000_020.0
SHOWN = re.compile(r"^[A-Z2-7]{5}-[A-Z2-7]{5}$")


@pytest.fixture(scope="module")
async def env(make_settings):
    settings = env_settings(make_settings, mfa="optional", mfa_max_attempts=3)
    async with identity_env(settings) as env:
        yield env


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    monkeypatch.setattr(IdentityService, "now", lambda self: NOW)


async def ok(env, command, body, **kw) -> dict:
    reply = await env.call(command, body, **kw)
    assert reply["ok"], reply
    return reply["result"]


async def enrolled(env, **kw) -> tuple[dict, list[str]]:
    """A signed-in user with a confirmed authenticator app, and the codes its confirmation
    showed."""
    user = await env.register()
    token = user["session"]["token"]
    secret = (await ok(env, v1.enroll_totp, {"token": token}))["secret"]
    body = {"token": token, "code": pyotp.TOTP(secret).at(NOW)}
    confirmed = await ok(env, v1.confirm_totp, body, **kw)
    return user, confirmed["recovery_codes"]


async def held_back(env, username: str) -> str:
    result = await ok(env, v1.login, {"username": username, "password": PASSWORD})
    assert result["mfa_required"] is True, result
    return result["mfa_token"]


def verify(mfa_token: str, recovery_code: str) -> dict:
    return {"mfa_token": mfa_token, "recovery_code": recovery_code, "factor": "recovery_code"}


async def stolen(env, token: str) -> None:
    """The session as a thief holds it: its sign-in long out of the step-up window."""
    await env.identity.pool.execute(
        "UPDATE sessions SET proved_at = proved_at - interval '1 day' WHERE token_hash = $1",
        token_digest(token),
    )


async def test_confirming_the_first_app_shows_ten_distinct_codes_once(env):
    user = await env.register()
    token = user["session"]["token"]
    secret = (await ok(env, v1.enroll_totp, {"token": token}))["secret"]
    body = {"token": token, "code": pyotp.TOTP(secret).at(NOW)}
    codes = (await ok(env, v1.confirm_totp, body, idempotency_key="confirm"))["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10
    assert all(SHOWN.match(c) for c in codes), codes
    # A replay of the same call is not answered from storage: the codes were a secret.
    replayed = await env.call(v1.confirm_totp, body, idempotency_key="confirm")
    assert error_code(replayed) == "invalid_operation"
    assert not any(c in str(replayed) for c in codes)


async def test_a_code_signs_in_once_and_the_owner_hears_how_many_are_left(env):
    user, codes = await enrolled(env)
    username = user["user"]["username"]
    async with tap(env.settings, env.settings.topology.events) as events:
        signed = await ok(env, v1.verify_mfa, verify(await held_back(env, username), codes[0]))
        used = await events.event("user.recovery_code_used.v1", user["user"]["id"])
        logged_in = await events.event("user.logged_in.v1", user["user"]["id"])
    assert used["data"]["remaining"] == 9
    assert logged_in["data"]["method"] == "recovery_code"
    me = await ok(env, v1.get_user, {"token": signed["session"]["token"]})
    assert me["user"]["id"] == user["user"]["id"]
    again = await env.call(v1.verify_mfa, verify(await held_back(env, username), codes[0]))
    assert error_code(again) == "code_invalid"
    # As typed by hand: case and the dash do not matter.
    typed = codes[1].replace("-", "").lower()
    assert (await env.call(v1.verify_mfa, verify(await held_back(env, username), typed)))["ok"]


async def test_a_wrong_code_is_refused_and_counted_against_the_mfa_token(env):
    user, codes = await enrolled(env)
    mfa_token = await held_back(env, user["user"]["username"])
    wrong = "AAAAA-AAAAA"
    for _ in range(3):
        assert error_code(await env.call(v1.verify_mfa, verify(mfa_token, wrong))) == "code_invalid"
    over = await env.call(v1.verify_mfa, verify(mfa_token, codes[0]))
    assert error_code(over) == "too_many_attempts"


async def test_concurrent_sign_ins_with_one_code_open_one_session(env):
    user, codes = await enrolled(env)
    tokens = [await held_back(env, user["user"]["username"]) for _ in range(4)]
    replies = await asyncio.gather(*(env.call(v1.verify_mfa, verify(t, codes[0])) for t in tokens))
    assert sum(r["ok"] for r in replies) == 1, replies
    assert {error_code(r) for r in replies if not r["ok"]} == {"code_invalid"}


async def test_regenerating_needs_a_step_up_and_voids_the_old_codes(env):
    user, old = await enrolled(env)
    token, username = user["session"]["token"], user["user"]["username"]
    await stolen(env, token)
    refused = await env.call(v1.regenerate_recovery_codes, {"token": token})
    assert error_code(refused) == "reauthentication_required"
    body = {"token": token, "password": PASSWORD}
    new = (await ok(env, v1.regenerate_recovery_codes, body, idempotency_key="regen"))[
        "recovery_codes"
    ]
    assert len(new) == 10 and not set(new) & set(old)
    replayed = await env.call(v1.regenerate_recovery_codes, body, idempotency_key="regen")
    assert error_code(replayed) == "invalid_operation"
    assert not any(c in str(replayed) for c in new)
    void = await env.call(v1.verify_mfa, verify(await held_back(env, username), old[0]))
    assert error_code(void) == "code_invalid"
    assert (await env.call(v1.verify_mfa, verify(await held_back(env, username), new[0])))["ok"]


async def test_regenerating_without_an_app_is_refused(env):
    user = await env.register()
    reply = await env.call(v1.regenerate_recovery_codes, {"token": user["session"]["token"]})
    assert error_code(reply) == "invalid_operation"


async def test_removing_the_app_deletes_the_codes_and_a_new_app_shows_new_ones(env):
    user, old = await enrolled(env)
    token = user["session"]["token"]
    await ok(env, v1.remove_totp, {"token": token})
    count = await env.identity.pool.fetchval(
        "SELECT count(*) FROM recovery_codes r JOIN users u ON u.id = r.user_id"
        " WHERE u.public_id = $1",
        user["user"]["id"],
    )
    assert count == 0
    secret = (await ok(env, v1.enroll_totp, {"token": token}))["secret"]
    body = {"token": token, "code": pyotp.TOTP(secret).at(NOW)}
    new = (await ok(env, v1.confirm_totp, body))["recovery_codes"]
    assert len(new) == 10 and not set(new) & set(old)


async def test_list_factors_shows_the_app_and_the_codes_left_never_a_secret(env):
    user = await env.register()
    token = user["session"]["token"]
    assert await ok(env, v1.list_factors, {"token": token}) == {
        "factors": [],
        "recovery_codes_remaining": 0,
    }
    secret = (await ok(env, v1.enroll_totp, {"token": token}))["secret"]
    pending = (await ok(env, v1.list_factors, {"token": token}))["factors"]
    assert [(f["kind"], f["confirmed_at"]) for f in pending] == [("totp", None)]
    body = {"token": token, "code": pyotp.TOTP(secret).at(NOW)}
    codes = (await ok(env, v1.confirm_totp, body))["recovery_codes"]
    mfa_token = await held_back(env, user["user"]["username"])
    await ok(env, v1.verify_mfa, verify(mfa_token, codes[0]))
    listed = await ok(env, v1.list_factors, {"token": token})
    assert listed["recovery_codes_remaining"] == 9
    (factor,) = listed["factors"]
    assert factor["kind"] == "totp" and factor["created_at"] and factor["confirmed_at"]
    assert set(factor) == {"kind", "created_at", "confirmed_at"}
    assert secret not in str(listed)


async def test_a_malformed_or_missing_code_is_invalid_params_naming_the_field(env):
    mfa_token = "Zx8v3mXo2l0yq3Qw7m3vJ9Gm8w2k"
    for bad in ("ABCDE-FGHI", "ABCDE-FGHI1", "ABCDE--FGHIJ", "012345"):
        reply = await env.call(v1.verify_mfa, verify(mfa_token, bad))
        assert error_code(reply) == "invalid_params", bad
        assert reply["error"]["details"]["fields"][0]["field"] == "recovery_code"
    missing = await env.call(v1.verify_mfa, {"mfa_token": mfa_token, "factor": "recovery_code"})
    assert error_code(missing) == "invalid_params"
    assert missing["error"]["details"]["fields"][0]["field"] == "recovery_code"
    no_code = await env.call(v1.verify_mfa, {"mfa_token": mfa_token, "factor": "totp"})
    assert no_code["error"]["details"]["fields"][0]["field"] == "code"


async def test_codes_are_stored_keyed_and_never_in_logs_events_or_later_replies(env, caplog):
    caplog.set_level(logging.DEBUG)
    async with tap(env.settings, env.settings.topology.events) as events:
        user, codes = await enrolled(env)
        token = user["session"]["token"]
        mfa_token = await held_back(env, user["user"]["username"])
        replies = [await env.call(v1.verify_mfa, verify(mfa_token, codes[0]))]
        replies.append(await env.call(v1.get_user, {"token": token}))
        replies.append(await env.call(v1.remove_totp, {"token": token}))
        await events.event("user.factor_removed.v1", user["user"]["id"])
        seen = [m.body.decode() for m in events.messages]
    assert all(r["ok"] for r in replies), replies
    stored = await env.identity.pool.fetch("SELECT digest FROM recovery_codes")
    for code in codes:
        for text in [*seen, *map(str, replies), caplog.text]:
            assert code not in text and code.replace("-", "") not in text
        assert all(code.encode() not in bytes(row["digest"]) for row in stored)
