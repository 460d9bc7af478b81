"""A hook worker announces its hooks (`identity.register_hook.v2`, on the workers exchange):
the registry lives in identity's schema, and the hook runner reads it for every flow that
calls hooks."""

from contracts.errors import ErrorCode
from contracts.hooks import v1 as hooks
from gatehouse.errors import GatehouseError
from services.identity.service import IdentityService
from services.runtime.work import UnitOfWork


async def register_hook(
    identity: IdentityService, uow: UnitOfWork, request: hooks.RegisterHook
) -> hooks.HookRegistered:
    return await identity.hooks.register(request)


async def register_hook_retired(
    identity: IdentityService, uow: UnitOfWork, request: hooks.RegisterHook
) -> hooks.HookRegistered:
    """v1 sat on the public commands exchange, where any caller could re-prioritise a hook
    out of reach; nothing it says is taken."""
    raise GatehouseError(
        "identity.register_hook.v1 is retired: hook workers announce with "
        "identity.register_hook.v2 on the workers exchange",
        code=ErrorCode.forbidden,
    )
