"""Operator commands on the admin exchange (issue 16): each command against the real broker
and database, the audit event each emits, the caller named in the service's log."""

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from contracts.admin import v1 as admin
from contracts.identity import v1
from services.identity.store import users as user_rows
from tests.identity_support import PASSWORD, admin_client, env_settings, identity_env, tap
from tests.support import error_code, error_fields, random_email, random_username


@pytest.fixture(scope="module")
async def env(make_settings):
    async with identity_env(env_settings(make_settings)) as env:
        yield env


@pytest.fixture
async def events(env):
    async with tap(env.settings, env.settings.topology.events) as events:
        yield events


async def audited(events, action: str, target: str | None) -> dict:
    body = await events.wait_for(
        lambda b: (
            b["type"] == "admin.action_taken.v1"
            and b["data"]["action"] == action
            and b["data"]["target_user_id"] == target
        )
    )
    data: dict = body["data"]
    return data


async def test_find_user_by_each_identifier_shows_status_and_last_sign_in(env, events):
    email = random_email()
    user = (await env.register(email=email))["user"]
    await env.login(user["username"])
    for query in (
        {"id": user["id"]},
        {"username": user["username"].upper()},
        {"email": email.upper()},
    ):
        reply = await env.admin(admin.find_user, query)
        assert reply["ok"], reply
        found = reply["result"]["user"]
        assert found["id"] == user["id"] and found["status"] == "active"
        assert found["last_login_at"] is not None and found["password_reset_required"] is False
    audit = await audited(events, "find_user", user["id"])
    assert audit["actor"] == "guest"  # the test broker's user, from the AMQP user_id
    assert audit["details"] == {"by": "id"}


async def test_find_user_needs_exactly_one_identifier_and_says_not_found(env):
    two = await env.admin(admin.find_user, {"id": "u_x", "username": "someone"})
    assert error_code(two) == "invalid_params" and error_fields(two) == ["id"]
    missing = await env.admin(admin.find_user, {"username": random_username()})
    assert error_code(missing) == "not_found"


async def test_an_admin_command_without_a_user_id_is_refused_and_logged(env, caplog):
    caplog.set_level(logging.INFO, logger="gatehouse.identity")
    async with admin_client(env.settings) as anonymous:
        anonymous._user_id = None  # a publisher that does not say who it is
        reply = json.loads(
            await anonymous.call_raw(admin.find_user.routing_key, b'{"username": "nobody"}')
        )
    assert error_code(reply) == "invalid_params" and error_fields(reply) == ["user_id"]
    assert "admin call admin.find_user.v1 by (no user_id): invalid_params" in caplog.text


async def test_every_admin_call_is_logged_with_its_caller(env, caplog):
    caplog.set_level(logging.INFO, logger="gatehouse.identity")
    await env.admin(admin.find_user, {"username": random_username()})
    assert "admin call admin.find_user.v1 by guest: not_found" in caplog.text


async def test_a_spoofed_user_id_never_reaches_identity(env):
    # RabbitMQ checks user_id against the connection's user and closes the channel.
    async with admin_client(env.settings, user_id="someone-else") as spoofing:
        with pytest.raises(Exception, match="PRECONDITION_FAILED"):
            await spoofing.call_raw(admin.find_user.routing_key, b'{"username": "x"}')


async def test_list_users_pages_by_keyset_and_filters_by_status(env, events):
    since = datetime.now(UTC) - timedelta(seconds=1)
    made = [(await env.register())["user"]["id"] for _ in range(5)]
    await env.admin(admin.disable_user, {"id": made[1], "reason": "test"})
    seen, token, pages = [], None, 0
    while True:
        body = {"limit": 2, "created_after": since.isoformat()}
        if token:
            body["page_token"] = token
        reply = await env.admin(admin.list_users, body)
        assert reply["ok"], reply
        seen += [u["id"] for u in reply["result"]["users"] if u["id"] in made]
        pages += 1
        token = reply["result"]["next_page_token"]
        if token is None:
            break
    assert seen == made and pages >= 3  # each once, oldest first
    disabled = await env.admin(
        admin.list_users, {"created_after": since.isoformat(), "status": "disabled"}
    )
    assert [u["id"] for u in disabled["result"]["users"] if u["id"] in made] == [made[1]]
    assert disabled["result"]["users"][0]["status"] == "disabled"
    audit = await audited(events, "list_users", None)
    assert audit["details"]["limit"] in (2, 50)
    bad = await env.admin(admin.list_users, {"page_token": "bm90LWEtdG9rZW4"})
    assert error_code(bad) == "invalid_params" and error_fields(bad) == ["page_token"]


async def test_disable_revokes_at_once_and_says_so_in_events(env, events):
    user = await env.register(remember=True)
    uid, token = user["user"]["id"], user["session"]["token"]
    until = datetime.now(UTC) + timedelta(days=1)
    reply = await env.admin(
        admin.disable_user, {"id": uid, "reason": "spam", "until": until.isoformat()}
    )
    assert reply["ok"], reply
    assert reply["result"]["user"]["status"] == "disabled"
    assert reply["result"]["user"]["disabled_reason"] == "spam"
    assert error_code(await env.call(v1.authenticate, {"token": token})) == "login_required"
    auto = await env.call(v1.auto_login, {"remember_token": user["remember_token"]})
    assert error_code(auto) == "login_required"
    disabled = await events.event("user.disabled.v1", uid)
    assert disabled["data"]["all_sessions_revoked"] is True
    assert len(disabled["data"]["revoked_session_ids"]) == 1
    assert disabled["data"]["until"].startswith(until.strftime("%Y-%m-%dT%H:%M:%S"))
    audit = await audited(events, "disable_user", uid)
    assert audit["reason"] == "spam" and audit["actor"] == "guest"


async def test_a_disable_that_ended_before_it_began_is_refused(env):
    user = (await env.register())["user"]
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    reply = await env.admin(admin.disable_user, {"id": user["id"], "reason": "x", "until": past})
    assert error_code(reply) == "invalid_params" and error_fields(reply) == ["until"]
    missing = await env.admin(admin.disable_user, {"id": "u_nobody", "reason": "x"})
    assert error_code(missing) == "not_found"


async def test_enable_lets_the_user_back_and_emits_once(env, events):
    user = (await env.register(login=False))["user"]
    await env.admin(admin.disable_user, {"id": user["id"], "reason": "x"})
    assert error_code(await env.login(user["username"])) == "account_disabled"
    first, second = await asyncio.gather(
        env.admin(admin.enable_user, {"id": user["id"]}),
        env.admin(admin.enable_user, {"id": user["id"], "reason": "appeal upheld"}),
    )
    assert first["ok"] and second["ok"]
    assert first["result"]["user"]["status"] == second["result"]["user"]["status"] == "active"
    assert (await env.login(user["username"]))["ok"]
    await audited(events, "enable_user", user["id"])
    await events.event("user.logged_in.v1", user["id"])  # after both enables committed
    assert len(events.of_type("user.enabled.v1")) == 1


async def test_revoke_sessions_signs_the_user_out_everywhere(env, events):
    user = await env.register(remember=True)
    other = (await env.login(user["user"]["username"]))["result"]["session"]["token"]
    reply = await env.admin(admin.revoke_sessions, {"id": user["user"]["id"]})
    assert reply["ok"], reply
    assert len(reply["result"]["revoked_session_ids"]) == 2
    for token in (user["session"]["token"], other):
        assert error_code(await env.call(v1.authenticate, {"token": token})) == "login_required"
    auto = await env.call(v1.auto_login, {"remember_token": user["remember_token"]})
    assert error_code(auto) == "login_required"
    revoked = await events.event("user.sessions_revoked.v1", user["user"]["id"])
    assert revoked["data"]["cause"] == "admin"
    assert sorted(revoked["data"]["revoked_session_ids"]) == sorted(
        reply["result"]["revoked_session_ids"]
    )
    assert (await env.login(user["user"]["username"]))["ok"]  # not disabled: signs in again


async def test_delete_user_purges_like_deregister(env, events):
    email = random_email()
    user = (await env.register(email=email))["user"]
    reply = await env.admin(admin.delete_user, {"id": user["id"], "reason": "GDPR request"})
    assert reply["ok"], reply
    counts = await user_rows.user_data_counts(env.identity.pool, user["id"])
    assert set(counts.values()) == {0}
    gone = await events.event("user.deregistered.v1", user["id"])
    assert gone["data"]["contacts"] == [{"type": "email", "value": email}]
    assert gone["data"]["all_sessions_revoked"] is True
    assert (await audited(events, "delete_user", user["id"]))["reason"] == "GDPR request"
    again = await env.admin(admin.delete_user, {"id": user["id"], "reason": "twice"})
    assert error_code(again) == "not_found"


async def test_audit_events_and_logs_carry_no_secret(env, events, caplog):
    caplog.set_level(logging.DEBUG)
    user = await env.register(remember=True)
    uid = user["user"]["id"]
    await env.admin(admin.revoke_sessions, {"id": uid, "reason": "check"})
    await env.admin(admin.disable_user, {"id": uid, "reason": "check"})
    await env.login(user["user"]["username"])  # refused: account_disabled
    await audited(events, "disable_user", uid)
    text = json.dumps(events.bodies()) + caplog.text
    assert "admin call admin.disable_user.v1 by guest: ok" in caplog.text
    for secret in (PASSWORD, user["session"]["token"], user["remember_token"]):
        assert secret not in text
