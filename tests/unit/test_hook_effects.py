"""Aggregating what the hooks of one flow asked for; the SDK's api builds the operations."""

import asyncio
from collections.abc import Awaitable

from contracts.hooks import v1 as hooks
from gatehouse import hooks as hooks_sdk
from services.identity.hook_effects import Effects


def test_later_hooks_override_and_none_deletes():
    effects = Effects()
    effects.add(hooks.SetAppMetadata(key="plan", value="free"))
    effects.add(hooks.SetAppMetadata(key="plan", value="pro"))
    effects.add(hooks.SetUserMetadata(key="theme", value=None))
    user = hooks.HookUser(id="u_1", user_metadata={"theme": "dark", "lang": "en"})
    view = effects.view(user)
    assert view.app_metadata == {"plan": "pro"}
    assert view.user_metadata == {"lang": "en"}
    assert effects.app_set == {"plan": "pro"} and effects.user_deleted == {"theme"}


def test_a_key_set_after_a_delete_is_set():
    effects = Effects()
    effects.add(hooks.SetAppMetadata(key="k", value=None))
    effects.add(hooks.SetAppMetadata(key="k", value=1))
    assert effects.app_set == {"k": 1} and not effects.app_deleted


def test_the_sdk_example_builds_a_deny_operation():
    before = len(hooks_sdk._registered)

    @hooks_sdk.hook("post_login")
    async def require_verified_email(event, api):
        if not event.user.email_verified:
            api.access.deny("unverified", "Please verify your email first")

    registered = hooks_sdk._registered[before]
    assert (registered.name, registered.priority) == ("require_verified_email", 100)
    api = hooks_sdk.Api({})
    event = hooks.HookEvent(trigger=hooks.Trigger.post_login, user=hooks.HookUser(id="u_1"))
    asyncio.run(_run(registered.handler(event, api)))
    assert api.operations == [
        hooks.Deny(reason="unverified", user_message="Please verify your email first")
    ]
    del hooks_sdk._registered[before:]


def test_the_cache_api_reads_its_own_writes():
    api = hooks_sdk.Api({})
    assert api.cache.get("k") is None
    api.cache.set("k", "v", ttl_ms=10)
    assert (api.cache.get("k") or {})["value"] == "v"
    api.cache.delete("k")
    assert api.cache.get("k") is None
    assert [op.op for op in api.operations] == ["cache.set", "cache.delete"]


async def _run(handled: Awaitable[None]) -> None:
    await handled
