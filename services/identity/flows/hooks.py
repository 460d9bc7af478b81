"""A hook worker announces its hooks (`identity.register_hook.v1`): the registry lives in
identity's schema, and the hook runner reads it for every flow that calls hooks."""

from contracts.hooks import v1 as hooks
from services.identity.service import IdentityService


async def register_hook(
    identity: IdentityService, request: hooks.RegisterHook
) -> hooks.HookRegistered:
    return await identity.hooks.register(request)
