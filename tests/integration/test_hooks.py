"""Hooks over the broker: identity calls the SDK's hooks in order, applies what they ask."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import aio_pika
import pytest

from contracts.hooks import v1 as hooks
from contracts.identity import v1
from services.identity.app import build as build_identity
from tests.hooks_support import hooks_running, unique_name
from tests.identity_support import PASSWORD, env_settings, identity_env
from tests.support import error_code, eventually, random_username, running

TIMEOUT_S = 0.5
# Long enough that no login of the test outlives it on a loaded machine; the test ends it.
SHORT_TTL_MS = 60_000


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
    fails every later registration closed (until identity forgets it, an hour later). So does
    what they cached: the cache is the trigger's, and the next test's hooks share the trigger."""
    yield
    for table in ("hooks", "hook_cache"):
        await env.identity.pool.execute(
            f"DELETE FROM {table} WHERE namespace = current_setting('gatehouse.namespace')"
        )


async def stored_cache(env, trigger: str) -> dict[str, tuple[str, datetime]]:
    """The trigger's cache as identity stored it: key -> (value, expires_at)."""
    rows = await env.identity.pool.fetch(
        "SELECT key, value, expires_at FROM hook_cache"
        " WHERE namespace = current_setting('gatehouse.namespace') AND trigger = $1",
        trigger,
    )
    return {r["key"]: (r["value"], r["expires_at"]) for r in rows}


async def db_now(env) -> datetime:
    now: datetime = await env.identity.pool.fetchval("SELECT now()")
    return now


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


async def test_a_pre_registration_validation_error_stops_the_registration(env, caplog):
    async def block_username(event, api):
        if event.user.username and event.user.username.startswith("blocked"):
            api.validation.error("blocked_name", "This username is not allowed")

    username = f"blocked_{random_username()}"
    with caplog.at_level(logging.INFO, logger="gatehouse.identity.hooks"):
        async with hooks_running(env.settings, ("pre_registration", block_username, 100)):
            reply = await env.call(v1.register, {"username": username, "password": PASSWORD})
    assert error_code(reply) == "validation_error"
    assert reply["error"]["message"] == "This username is not allowed"
    # Seed 002: the error code "will appear in tenant logs"; the message is the user's.
    assert "validation error blocked_name" in caplog.text
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
            api.cache.set("short", "x", ttl_ms=SHORT_TTL_MS)

    user = await env.register(login=False)
    username = user["user"]["username"]
    async with hooks_running(env.settings, ("post_login", counter, 100)):
        for _ in range(2):
            assert (await login(env, username))["ok"]
        _, expires_at = (await stored_cache(env, "post_login"))["short"]
        lifetime = expires_at - await db_now(env)
        assert timedelta(0) < lifetime <= timedelta(milliseconds=SHORT_TTL_MS)
        # Past the short entry's ttl, without waiting for it: its end moved into the past.
        await env.identity.pool.execute(
            "UPDATE hook_cache SET expires_at = now() - interval '1 millisecond'"
            " WHERE namespace = current_setting('gatehouse.namespace') AND key = 'short'"
        )
        assert (await login(env, username))["ok"]
    assert counts == [None, "1", "2"]
    assert short == [False, True, False]


async def test_a_slow_pre_registration_hook_fails_the_registration_closed(env):
    answered = asyncio.Event()

    async def slow(event, api):
        await answered.wait()  # past the timeout: it answers only once identity has
        api.user.set_app_metadata("late", True)

    username = random_username()
    async with hooks_running(env.settings, ("pre_registration", slow, 100)):
        reply = await env.call(v1.register, {"username": username, "password": PASSWORD})
        answered.set()
    assert error_code(reply) == "hook_unavailable"
    assert error_code(await login(env, username)) == "invalid_credentials"


async def test_a_slow_post_login_hook_fails_open(env):
    answered = asyncio.Event()

    async def slow(event, api):
        await answered.wait()  # past the timeout: it answers only once identity has
        api.access.deny("too late", "too late")

    user = await env.register(login=False)
    async with hooks_running(env.settings, ("post_login", slow, 100)):
        reply = await login(env, user["user"]["username"])
        answered.set()
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


async def test_the_cache_of_a_trigger_is_capped(env):
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


async def test_a_cache_entry_without_a_lifetime_lives_24_hours(env):
    """Seed 002: "If no lifetime is specified, a default of lifetime of 24 hours will be
    used." Read off the stored expiry, and off what the next call is sent."""
    seen: list[object] = []

    async def remember(event, api):
        seen.append(api.cache.get("seen"))
        api.cache.set("seen", "yes")

    user = await env.register(login=False)
    async with hooks_running(env.settings, ("post_login", remember, 100)):
        before = await db_now(env)
        assert (await login(env, user["user"]["username"]))["ok"]
        after = await db_now(env)
        value, expires_at = (await stored_cache(env, "post_login"))["seen"]
        assert (await login(env, user["user"]["username"]))["ok"]
    assert value == "yes"
    assert before + timedelta(hours=24) <= expires_at <= after + timedelta(hours=24)
    assert seen == [None, {"value": "yes", "expires_at": expires_at}]


async def test_an_expires_at_beyond_the_maximum_lifetime_is_cut_to_it(env):
    """Seed 002: "Lifetimes may not exceed the maximum duration": `ttl_ms` beyond it is
    refused by the contract, an instant beyond it is cut to it (a hook's clock is not
    identity's), so no entry lives forever."""
    far = datetime(9999, 1, 1, tzinfo=UTC)

    async def hoard(event, api):
        api.cache.set("forever", "x", expires_at=far)
        api.cache.set("soon", "y", expires_at=datetime.now(UTC) + timedelta(hours=1))

    user = await env.register(login=False)
    async with hooks_running(env.settings, ("post_login", hoard, 100)):
        assert (await login(env, user["user"]["username"]))["ok"]
        now = await db_now(env)
    stored = await stored_cache(env, "post_login")
    cap = timedelta(milliseconds=hooks.CACHE_MAX_TTL_MS)
    assert now < stored["forever"][1] <= now + cap
    assert stored["forever"][1] > now + cap - timedelta(minutes=1)
    assert stored["soon"][1] < now + timedelta(hours=1, minutes=1)  # one within it is kept


async def test_cache_delete_removes_the_entry_for_later_calls(env):
    seen: list[object] = []

    async def once(event, api):
        entry = api.cache.get("token")
        seen.append(entry["value"] if entry else None)
        if entry is None:
            api.cache.set("token", "t1")
            api.cache.set("scratch", "s")
            api.cache.delete("scratch")  # after its set: gone, as the hook's own get says
        else:
            api.cache.delete("token")

    username = (await env.register(login=False))["user"]["username"]
    async with hooks_running(env.settings, ("post_login", once, 100)):
        assert (await login(env, username))["ok"]
        assert set(await stored_cache(env, "post_login")) == {"token"}
        assert (await login(env, username))["ok"]
        assert await stored_cache(env, "post_login") == {}
        assert (await login(env, username))["ok"]
    assert seen == [None, "t1", None]


async def test_the_cache_is_the_triggers_shared_by_its_hooks_and_not_the_others(env):
    """Seed 002: "Values stored in this cache are scoped to the Trigger in which they are
    set": a later hook of the same trigger reads what an earlier one wrote, in the same flow;
    a hook of the other trigger does not. (Per namespace: tests/integration/test_perimeter.py
    ::test_namespaces_sharing_a_database_never_see_each_others_workers.)"""
    login_saw: list[object] = []
    registration_saw: list[object] = []

    async def writer(event, api):
        api.cache.set("plan", "pro")

    async def reader(event, api):
        login_saw.append((api.cache.get("plan") or {}).get("value"))

    async def other_trigger(event, api):
        registration_saw.append(api.cache.get("plan"))

    user = await env.register(login=False)
    async with hooks_running(
        env.settings,
        ("post_login", writer, 10),
        ("post_login", reader, 20),
        ("pre_registration", other_trigger, 100),
    ):
        assert (await login(env, user["user"]["username"]))["ok"]
        assert (await env.call(v1.register, {"username": random_username(), "password": PASSWORD}))[
            "ok"
        ]
    assert login_saw == ["pro"]
    assert registration_saw == [None]


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
