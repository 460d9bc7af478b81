"""Hooks over the broker: identity calls the SDK's hooks in order, applies what they ask."""

import asyncio
import logging

import aio_pika
import pytest

from contracts.hooks import v1 as hooks
from contracts.identity import v1
from services.identity.app import build as build_identity
from tests.hooks_support import hooks_running, unique_name
from tests.identity_support import PASSWORD, env_settings, identity_env
from tests.support import error_code, eventually, random_username, running

TIMEOUT_S = 0.5


@pytest.fixture(scope="module")
async def env(make_settings):
    settings = env_settings(
        make_settings,
        hook_pre_registration_timeout_s=TIMEOUT_S,
        hook_post_login_timeout_s=TIMEOUT_S,
    )
    async with identity_env(settings) as env:
        yield env


@pytest.fixture(autouse=True)
async def forget_hooks(env):
    """Each test's hooks go with it: a registered pre-registration hook whose worker stopped
    fails every later registration closed (until identity forgets it, an hour later)."""
    yield
    await env.identity.pool.execute(
        "DELETE FROM hooks WHERE namespace = current_setting('gatehouse.namespace')"
    )


async def login(env, username, **extra):
    return await env.call(v1.login, {"username": username, "password": PASSWORD, **extra})


async def test_with_no_hook_bound_login_works(env):
    user = await env.register(login=False)
    assert (await login(env, user["user"]["username"]))["ok"]


async def test_a_fail_closed_hook_whose_worker_stopped_fails_the_flow(env, caplog):
    """Unroutable is no answer: a pre-registration hook (fail_closed) whose worker is gone
    refuses the registration, so stopping a worker cannot switch its checks off."""
    ran: list[str | None] = []

    async def note_registration(event, api):
        ran.append(event.user.username)

    first, second = random_username(), random_username()
    spec = ("pre_registration", note_registration, 100)
    async with hooks_running(env.settings, spec, keep=True) as w:
        (hook,) = w.hooks
        assert (await env.call(v1.register, {"username": first, "password": PASSWORD}))["ok"]
    assert ran == [first]  # registered, and called while its worker ran
    # The registration outlives the worker (identity forgets it only after an hour) ...
    assert await env.identity.pool.fetchval("SELECT count(*) FROM hooks WHERE name = $1", hook.name)
    # ... and the flow fails closed, naming the hook in the log.
    with caplog.at_level(logging.INFO, logger="gatehouse.identity.hooks"):
        reply = await env.call(v1.register, {"username": second, "password": PASSWORD})
    assert error_code(reply) == "hook_unavailable", reply
    assert f"hook {hook.name} on pre_registration failed (unroutable" in caplog.text
    assert error_code(await login(env, second)) == "invalid_credentials"
    assert ran == [first]


async def test_a_fail_open_hook_whose_worker_stopped_is_skipped_with_a_log_line(env, caplog):
    async def deny_everyone(event, api):
        api.access.deny("closed", "closed")

    user = await env.register(login=False)
    async with hooks_running(env.settings, ("post_login", deny_everyone, 100), keep=True) as w:
        (hook,) = w.hooks
        assert error_code(await login(env, user["user"]["username"])) == "access_denied"
    with caplog.at_level(logging.INFO, logger="gatehouse.identity.hooks"):
        assert (await login(env, user["user"]["username"]))["ok"]
    assert f"hook {hook.name} on post_login failed (unroutable" in caplog.text
    assert "continuing without it" in caplog.text


async def test_a_post_login_deny_blocks_the_session_and_shows_only_the_user_message(env, caplog):
    async def require_verified_email(event, api):
        if not event.user.email_verified and event.client.client_ip == "203.0.113.7":
            api.access.deny("unverified-internal-reason", "Please verify your email first")

    user = await env.register(login=False)
    username = user["user"]["username"]
    with caplog.at_level(logging.INFO):
        async with hooks_running(env.settings, ("post_login", require_verified_email, 100)):
            denied = await login(env, username, client={"client_ip": "203.0.113.7"})
            other_client = await login(env, username, client={"client_ip": "198.51.100.1"})
    assert error_code(denied) == "access_denied"
    assert denied["error"]["message"] == "Please verify your email first"
    assert "unverified-internal-reason" not in str(denied)
    assert "session" not in str(denied)
    assert "unverified-internal-reason" in caplog.text
    assert other_client["ok"]


async def test_a_pre_registration_validation_error_stops_the_registration(env):
    async def block_username(event, api):
        if event.user.username and event.user.username.startswith("blocked"):
            api.validation.error("blocked_name", "This username is not allowed")

    username = f"blocked_{random_username()}"
    async with hooks_running(env.settings, ("pre_registration", block_username, 100)):
        reply = await env.call(v1.register, {"username": username, "password": PASSWORD})
    assert error_code(reply) == "validation_error"
    assert reply["error"]["message"] == "This username is not allowed"
    assert error_code(await login(env, username)) == "invalid_credentials"  # never created


async def test_metadata_from_two_hooks_is_aggregated_in_order_and_visible_in_get_user(env):
    seen: list[dict] = []

    async def first(event, api):
        api.user.set_app_metadata("plan", "pro")
        api.user.set_app_metadata("scratch", 1)
        api.user.set_user_metadata("theme", "dark")

    async def second(event, api):
        seen.append(dict(event.user.app_metadata))
        api.user.set_app_metadata("scratch", None)  # deletes what the first one set
        api.user.set_user_metadata("seen_plan", event.user.app_metadata.get("plan"))

    user = await env.register(login=False)
    async with hooks_running(env.settings, ("post_login", second, 20), ("post_login", first, 10)):
        reply = await login(env, user["user"]["username"])
    assert reply["ok"], reply
    assert seen == [{"plan": "pro", "scratch": 1}]
    me = (await env.call(v1.get_user, {"token": reply["result"]["session"]["token"]}))["result"]
    assert me["user"]["app_metadata"] == {"plan": "pro"}
    assert me["user"]["user_metadata"] == {"theme": "dark", "seen_plan": "pro"}
    assert reply["result"]["user"]["app_metadata"] == {"plan": "pro"}


async def test_pre_registration_metadata_and_user_id_are_applied_with_the_new_user(env):
    async def crm_id(event, api):
        api.user.set_user_id(f"crm|{event.user.username}")
        api.user.set_app_metadata("source", "crm")

    username = random_username()
    async with hooks_running(env.settings, ("pre_registration", crm_id, 100)):
        user = await env.register(username=username)
        again = await env.call(
            v1.register, {"username": username.upper() + "x", "password": PASSWORD}
        )
    assert user["user"]["id"] == f"crm|{username}"
    assert user["user"]["app_metadata"] == {"source": "crm"}
    me = await env.call(v1.get_user, {"token": user["session"]["token"]})
    assert me["result"]["user"]["id"] == f"crm|{username}"
    assert again["ok"]  # a different username gives a different id


async def test_a_user_id_already_taken_is_refused(env):
    fixed = f"fixed|{random_username()}"

    async def same_id(event, api):
        api.user.set_user_id(fixed)

    async with hooks_running(env.settings, ("pre_registration", same_id, 100)):
        first = await env.call(v1.register, {"username": random_username(), "password": PASSWORD})
        second = await env.call(v1.register, {"username": random_username(), "password": PASSWORD})
    assert first["ok"] and first["result"]["user"]["id"] == fixed
    assert error_code(second) == "user_id_taken"


async def test_the_cache_persists_across_calls_and_expires(env):
    counts: list[str | None] = []
    short: list[object] = []

    async def counter(event, api):
        entry = api.cache.get("count")
        counts.append(entry["value"] if entry else None)
        api.cache.set("count", str(int(entry["value"]) + 1 if entry else 1))
        short.append(api.cache.get("short") is not None)
        if not short[-1]:
            api.cache.set("short", "x", ttl_ms=200)

    user = await env.register(login=False)
    username = user["user"]["username"]
    async with hooks_running(env.settings, ("post_login", counter, 100)):
        for _ in range(2):
            assert (await login(env, username))["ok"]
        await asyncio.sleep(0.5)  # past the short entry's ttl
        assert (await login(env, username))["ok"]
    assert counts == [None, "1", "2"]
    assert short == [False, True, False]


async def test_a_slow_pre_registration_hook_fails_the_registration_closed(env):
    async def slow(event, api):
        await asyncio.sleep(TIMEOUT_S * 3)
        api.user.set_app_metadata("late", True)

    username = random_username()
    async with hooks_running(env.settings, ("pre_registration", slow, 100)):
        reply = await env.call(v1.register, {"username": username, "password": PASSWORD})
    assert error_code(reply) == "hook_unavailable"
    assert error_code(await login(env, username)) == "invalid_credentials"


async def test_a_slow_post_login_hook_fails_open(env):
    async def slow(event, api):
        await asyncio.sleep(TIMEOUT_S * 3)
        api.access.deny("too late", "too late")

    user = await env.register(login=False)
    async with hooks_running(env.settings, ("post_login", slow, 100)):
        reply = await login(env, user["user"]["username"])
    assert reply["ok"], reply
    assert reply["result"]["user"]["app_metadata"] == {}


async def test_a_hook_that_raises_is_treated_like_a_timeout(env):
    async def broken(event, api):
        raise RuntimeError("bug in the hook")

    async with hooks_running(env.settings, ("pre_registration", broken, 100)):
        reply = await env.call(v1.register, {"username": random_username(), "password": PASSWORD})
    assert error_code(reply) == "hook_unavailable"


async def test_a_malformed_reply_is_treated_like_a_timeout_and_logged(env, caplog):
    name = unique_name("garbage")
    connection = await aio_pika.connect(env.settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(env.settings.topology.hooks)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, hooks.routing_key(hooks.Trigger.pre_registration, 100, name))

        async def reply_garbage(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            await channel.default_exchange.publish(
                aio_pika.Message(
                    b'{"ok": true, "result": {"operations": [{"op": "nope"}]}}',
                    correlation_id=message.correlation_id,
                ),
                routing_key=message.reply_to or "",
            )

        await queue.consume(reply_garbage, no_ack=True)
        registered = await env.call(
            hooks.register_hook_v2, {"trigger": "pre_registration", "name": name}
        )
        assert registered["ok"], registered
        with caplog.at_level(logging.INFO):
            reply = await env.call(
                v1.register, {"username": random_username(), "password": PASSWORD}
            )
    assert error_code(reply) == "hook_unavailable"
    assert name in caplog.text and "invalid operations" in caplog.text


async def test_the_cache_of_a_hook_is_capped(env):
    sizes: list[int] = []

    async def hoarder(event, api):
        sizes.append(sum(api.cache.get(f"k{i}") is not None for i in range(150)))
        for i in range(150):
            api.cache.set(f"k{i}", "v", ttl_ms=60_000 + i)

    user = await env.register(login=False)
    async with hooks_running(env.settings, ("post_login", hoarder, 100)):
        for _ in range(2):
            assert (await login(env, user["user"]["username"]))["ok"]
    assert sizes == [0, hooks.CACHE_MAX_KEYS]


async def announced(env, name):
    return await env.identity.pool.fetchval("SELECT announced_at FROM hooks WHERE name = $1", name)


async def test_a_worker_announces_again_so_a_lost_registration_comes_back(env, caplog):
    async def noop(event, api):
        pass

    settings = env.settings.model_copy(update={"hook_announce_interval_s": 0.1})
    with caplog.at_level(logging.INFO, logger="gatehouse.identity.hooks"):
        async with hooks_running(settings, ("post_login", noop, 100)) as worker:
            name = worker.hooks[0].name
            first = await announced(env, name)

            async def announced_again():
                return (await announced(env, name)) > first

            await eventually(announced_again)
            # Announcements of a known hook are not news for the log.
            assert caplog.text.count(f"hook {name} registered") == 1

            await env.identity.pool.execute("DELETE FROM hooks WHERE name = $1", name)
            await eventually(lambda: announced(env, name))
    assert caplog.text.count(f"hook {name} registered") == 2


async def test_identity_forgets_hooks_nobody_announced_for_a_while_and_keeps_live_ones(env):
    async def noop(event, api):
        pass

    async with hooks_running(env.settings, ("post_login", noop, 100), keep=True) as stopped:
        pass
    async with hooks_running(env.settings, ("post_login", noop, 100)) as live:
        gone, kept = stopped.hooks[0].name, live.hooks[0].name
        await env.identity.pool.execute(
            "UPDATE hooks SET announced_at = now() - make_interval(secs => $2 + 1) WHERE name = $1",
            gone,
            env.settings.hook_forget_after_s,
        )
        # Housekeeping runs when identity starts, then hourly: start one more replica.
        async with running(build_identity(env.settings)):

            async def forgotten():
                return await announced(env, gone) is None

            await eventually(forgotten)
        assert await announced(env, kept) is not None
