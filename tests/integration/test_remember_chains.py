"""Remember-token chains (issue 22, point 2), as a thief who copied a remember token would try
them: a chain ends at an absolute lifetime however often it rotates, and a used token that
comes back revokes its whole chain and every session the chain issued, the thief's and the
owner's, with an event for the owner's notice."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from contracts.events import v1 as events
from contracts.identity import v1
from services.identity.domain import token_digest
from tests.identity_support import PASSWORD, env_settings, identity_env, tap
from tests.support import error_code

CHAIN_TTL_S = 3600


@pytest.fixture(scope="module")
async def env(make_settings):
    settings = env_settings(make_settings, remember_chain_ttl_s=CHAIN_TTL_S)
    async with identity_env(settings, with_verification=False) as env:
        yield env


@pytest.fixture
async def events_tap(env):
    async with tap(env.settings, env.settings.topology.events) as collected:
        yield collected


async def remembered(env, username: str, **extra) -> dict:
    reply = await env.login(username, remember=True, **extra)
    assert reply["ok"] and reply["result"]["remember_token"], reply
    return reply["result"]


async def alive(env, token: str) -> bool:
    reply = await env.call(v1.get_user, {"token": token})
    assert reply["ok"] or error_code(reply) == "login_required", reply
    return bool(reply["ok"])


async def test_a_replayed_token_kills_the_chain_the_thiefs_sessions_and_the_owners(env, events_tap):
    user = await env.register()
    username, user_id = user["user"]["username"], user["user"]["id"]
    owner = await remembered(env, username)
    stolen = owner["remember_token"]
    # The thief uses the copy first and gets a session and the next token of the chain.
    thief = await env.call(v1.auto_login, {"remember_token": stolen})
    assert thief["ok"], thief
    thief_session = thief["result"]["session"]["token"]
    # Later the owner's device presents the same token: it has been used, so one of its two
    # holders is a thief, and nothing tells which.
    replay = await env.call(
        v1.auto_login, {"remember_token": stolen, "client": {"client_ip": "203.0.113.9"}}
    )
    assert error_code(replay) == "login_required"
    assert not await alive(env, thief_session)
    assert not await alive(env, owner["session"]["token"])
    thief_next = await env.call(
        v1.auto_login, {"remember_token": thief["result"]["remember_token"]}
    )
    assert error_code(thief_next) == "login_required"
    # A session outside the chain (the sign-in at registration) is not the chain's.
    assert await alive(env, user["session"]["token"])

    reused = await events_tap.event("user.remember_token_reused.v1", user_id)
    signed_in = [
        e["data"]["session_id"]
        for e in events_tap.of_type("user.logged_in.v1")
        if e["subject"] == user_id
        and e["data"]["method"] in ("username_password", "remember_token")
    ]
    data = events.UserRememberTokenReused.model_validate(reused["data"])
    assert len(data.revoked_session_ids) == 2 and set(signed_in) <= set(data.revoked_session_ids)
    assert data.client is not None and data.client.client_ip == "203.0.113.9"
    assert data.owner is not None
    body = json.dumps(reused)
    for secret in (stolen, thief_session, owner["session"]["token"], PASSWORD):
        assert secret not in body
    # Told once: a third presentation finds nothing left to revoke.
    assert error_code(await env.call(v1.auto_login, {"remember_token": stolen})) == (
        "login_required"
    )
    await asyncio.sleep(0.5)
    assert len(events_tap.of_type("user.remember_token_reused.v1")) == 1


async def test_a_replay_after_the_owner_rotated_kills_the_owners_new_session_too(env):
    user = await env.register()
    first = await remembered(env, user["user"]["username"])
    rotated = await env.call(v1.auto_login, {"remember_token": first["remember_token"]})
    assert rotated["ok"], rotated
    # The thief replays the copy they took before the owner's auto-login.
    replay = await env.call(v1.auto_login, {"remember_token": first["remember_token"]})
    assert error_code(replay) == "login_required"
    assert not await alive(env, rotated["result"]["session"]["token"])
    assert error_code(
        await env.call(v1.auto_login, {"remember_token": rotated["result"]["remember_token"]})
    ) == ("login_required")


async def test_of_concurrent_auto_logins_with_one_token_one_wins_and_the_rest_are_reuse(env):
    user = await env.register()
    token = (await remembered(env, user["user"]["username"]))["remember_token"]
    replies = await asyncio.gather(
        *(env.call(v1.auto_login, {"remember_token": token}) for _ in range(5))
    )
    winners = [r for r in replies if r["ok"]]
    assert len(winners) == 1, replies
    assert all(error_code(r) == "login_required" for r in replies if not r["ok"]), replies
    # The others were a reuse: the chain is gone, the winner's new session and token with it.
    assert not await alive(env, winners[0]["result"]["session"]["token"])
    again = await env.call(
        v1.auto_login, {"remember_token": winners[0]["result"]["remember_token"]}
    )
    assert error_code(again) == "login_required"


async def chain_ends(env, token: str) -> set[datetime]:
    """The absolute ends stored for the chain of `token`, one per token it has had."""
    rows = await env.identity.pool.fetch(
        "SELECT chain_expires_at FROM remember_tokens WHERE chain_id ="
        " (SELECT chain_id FROM remember_tokens WHERE token_hash = $1)",
        token_digest(token),
    )
    return {row["chain_expires_at"] for row in rows}


async def test_a_chain_ends_at_its_absolute_lifetime_however_often_it_rotates(env):
    user = await env.register()
    before = await env.identity.pool.fetchval("SELECT now()")
    token = (await remembered(env, user["user"]["username"]))["remember_token"]
    for _ in range(3):  # each rotation is a fresh 30-day token, but of a one-hour chain
        reply = await env.call(v1.auto_login, {"remember_token": token})
        assert reply["ok"], reply
        token = reply["result"]["remember_token"]
    (end,) = await chain_ends(env, token)  # every rotation kept the first sign-in's end
    assert before < end - timedelta(seconds=CHAIN_TTL_S) < datetime.now(UTC)
    # The hour passes without waiting for it: the chain's end moves into the past.
    await env.identity.pool.execute(
        "UPDATE remember_tokens SET chain_expires_at = now() - interval '1 second' WHERE chain_id ="
        " (SELECT chain_id FROM remember_tokens WHERE token_hash = $1)",
        token_digest(token),
    )
    assert error_code(await env.call(v1.auto_login, {"remember_token": token})) == (
        "login_required"
    )


async def test_an_auto_login_keeps_the_proof_time_of_the_sign_in_that_started_the_chain(env):
    user = await env.register()
    first = await remembered(env, user["user"]["username"])
    second = await env.call(v1.auto_login, {"remember_token": first["remember_token"]})
    assert second["ok"], second
    third = await env.call(v1.auto_login, {"remember_token": second["result"]["remember_token"]})
    assert third["ok"], third
    proofs = [
        await env.identity.pool.fetchval(
            "SELECT proved_at FROM sessions WHERE token_hash = $1",
            token_digest(result["session"]["token"]),
        )
        for result in (first, second["result"], third["result"])
    ]
    assert proofs[0] is not None and proofs == [proofs[0]] * 3
