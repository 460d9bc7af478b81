"""Register (by username, email or phone; password and/or code) and validate_registration."""

from functools import partial

from contracts.events import v1 as events
from contracts.hooks import v1 as hooks
from contracts.identity import v1
from contracts.verification.v1 import Scenario
from services.identity import claims, domain, gate, store
from services.identity.domain import IdentityError, IdKind
from services.identity.gate import Factor
from services.identity.service import IdentityService
from services.identity.usernames import Username
from services.identity.views import user_view
from services.runtime.work import UnitOfWork


async def _ensure_available(
    identity: IdentityService,
    username: Username | None,
    email: str | None,
    phone: str | None,
    proven: frozenset[IdKind],
) -> None:
    # Only a courtesy (it keeps a code from being spent on a doomed registration): the
    # unique indexes settle races when the user row is inserted. A contact in `proven` is
    # taken only where held verified: a mere claim is taken over (services/identity/claims.py).
    code = await store.users.taken(identity.pool, username, email, phone, proven)
    if code is not None:
        field = code.value.removesuffix("_taken")
        raise IdentityError(f"this {field} is already in use", code=code)


async def validate_registration(
    identity: IdentityService, uow: UnitOfWork, request: v1.ValidateRegistration
) -> v1.Valid:
    plan = domain.plan_registration(
        identity.policy,
        identity.region,
        username=request.username,
        email=request.email,
        phone=request.phone,
        password=request.password,
        code=None,
        properties=request.properties,
        require_credential=False,
    )
    # As a registration with a code would find them: a contact someone only claimed is free.
    await _ensure_available(
        identity, plan.username, plan.email, plan.phone, frozenset({IdKind.email, IdKind.phone})
    )
    return v1.Valid()


async def register(
    identity: IdentityService, uow: UnitOfWork, request: v1.Register
) -> v1.Registered:
    plan = domain.plan_registration(
        identity.policy,
        identity.region,
        username=request.username,
        email=request.email,
        phone=request.phone,
        password=request.password,
        code=request.code,
        properties=request.properties,
    )
    proven = frozenset({plan.code_for.kind}) if plan.code_for else frozenset()
    await _ensure_available(identity, plan.username, plan.email, plan.phone, proven)
    password_hash = await identity.hasher.hash(plan.password) if plan.password else None
    if plan.code_for is not None and request.code is not None:
        await identity.check_code(plan.code_for, Scenario.register, request.code)
    verified = plan.code_for.kind if plan.code_for else None
    # Hooks see the user about to be created; what they change is applied with the insert.
    public_id = domain.new_public_id("u")
    planned = hooks.HookUser(
        id=public_id,
        username=plan.username.display if plan.username else None,
        email=plan.email,
        phone=plan.phone,
        email_verified=verified is IdKind.email,
        phone_verified=verified is IdKind.phone,
    )
    effects = await identity.hooks.run(
        hooks.Trigger.pre_registration,
        planned,
        contact=plan.email or plan.phone,
        client=request.client,
    )
    admission = None
    if request.login:
        # Through the one gate, before anything is written (its hooks talk to the network):
        # the post-login hooks see the user as pre-registration left it, and their deny
        # refuses the registration as a whole. A code just proved a contact (`otp`), which
        # the two-factor policy accepts; a password alone owes a second factor where one is
        # required, and the reply then says `mfa_required` with no session.
        admission = await gate.admit_registration(
            identity,
            effects.view(planned),
            method=f"{(verified or IdKind.username).value}_registration",
            factors=_factors(plan),
            client=request.client,
        )
    async with uow.transaction() as con:
        insert = partial(
            store.users.insert_user,
            con,
            effects.user_id or public_id,
            plan.username,
            plan.email,
            plan.phone,
            verified is IdKind.email,
            verified is IdKind.phone,
            plan.properties,
        )
        with store.rows.unique_violations():
            if plan.code_for is None:
                user = await insert()
            else:  # the code proved this contact: it beats an account that only claimed it
                user = await claims.prove(identity, con, plan.code_for, None, insert)
        user = await identity.apply_effects(con, user, effects)
        if password_hash is not None:
            await store.credentials.set_password(con, user.id, password_hash)
        await identity.emit(
            con,
            events.user_registered,
            events.UserRegistered(
                user_id=user.public_id,
                username=user.username,
                email=user.email,
                phone=user.phone,
                email_verified=user.email_verified,
                phone_verified=user.phone_verified,
            ),
            user.public_id,
        )
        if admission is None or admission.owes_factor:
            owes = admission is not None and admission.owes_factor
            return await uow.commit(v1.Registered(user=user_view(user), mfa_required=owes))
        signed = await gate.enter(identity, con, user, admission, remember=request.remember)
        return await uow.commit(
            v1.Registered(
                user=signed.user or user_view(user),
                session=signed.session,
                remember_token=signed.remember_token,
                access_token=signed.access_token,
                access_token_expires_at=signed.access_token_expires_at,
            )
        )


def _factors(plan: domain.Registration) -> gate.Factors:
    proven = {Factor.password} if plan.password else set()
    if plan.code_for is not None:
        proven.add(Factor.code)
    return frozenset(proven)
