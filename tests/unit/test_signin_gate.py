"""The gate's admission and the login strategies' registry, with in-memory fakes: no broker,
no database. (The sessions it opens are tested through the broker in
tests/integration/test_session_gate.py.)"""

from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest

from contracts.errors import ErrorCode
from contracts.hooks import v1 as hooks
from contracts.identity import v1
from gatehouse.errors import InvalidParams
from services.identity import gate, signin
from services.identity.domain import IdentityError
from services.identity.gate import Factor, Proof
from services.identity.hook_effects import Effects
from services.identity.service import IdentityService
from services.identity.settings import MfaPolicy
from services.identity.signin import code, password
from services.identity.store.rows import User

NOW = datetime(2026, 12, 7, tzinfo=UTC)


class FakeHooks:
    def __init__(self) -> None:
        self.calls: list[tuple[hooks.Trigger, str]] = []

    async def run(
        self, trigger: hooks.Trigger, user: hooks.HookUser, *, method: str, client: Any
    ) -> Effects:
        self.calls.append((trigger, method))
        return Effects()


def identity(mfa: MfaPolicy) -> tuple[IdentityService, FakeHooks]:
    runner = FakeHooks()
    fake = SimpleNamespace(settings=SimpleNamespace(mfa=mfa, mfa_email=False), hooks=runner)
    return cast(IdentityService, fake), runner


def user(**changes: Any) -> User:
    row = User(
        id=1,
        public_id="u_1",
        username="ada",
        email=None,
        phone="+33612345678",
        email_verified=False,
        phone_verified=True,
        properties="{}",
        created_at=NOW,
        updated_at=NOW,
        app_metadata="{}",
        user_metadata="{}",
        mfa_enabled=False,
        totp=False,
        disabled_at=None,
        disabled_until=None,
        disabled_reason=None,
        password_reset_required=False,
        last_login_at=None,
        disabled=False,
    )
    return replace(row, **changes)


def proof(factor: Factor, **changes: Any) -> Proof:
    return Proof(user(**changes), "username_password", frozenset({factor}), None)


async def test_a_password_sign_in_runs_the_post_login_hooks_and_may_open_a_session():
    fake, runner = identity(MfaPolicy.off)
    admission = await gate.admit(fake, proof(Factor.password))
    assert not admission.owes_factor
    assert runner.calls == [(hooks.Trigger.post_login, "username_password")]


async def test_a_password_alone_owes_a_second_factor_where_one_is_required_and_no_hook_runs():
    fake, runner = identity(MfaPolicy.required)
    admission = await gate.admit(fake, proof(Factor.password))
    assert admission.owes_factor
    assert runner.calls == []


async def test_a_code_sign_in_meets_the_two_factor_policy():
    fake, _ = identity(MfaPolicy.required)
    assert not (await gate.admit(fake, proof(Factor.code))).owes_factor


async def test_an_account_that_turned_two_factor_on_owes_it_where_it_is_optional():
    fake, _ = identity(MfaPolicy.optional)
    assert (await gate.admit(fake, proof(Factor.password, mfa_enabled=True))).owes_factor
    assert not (await gate.admit(fake, proof(Factor.password))).owes_factor


async def test_a_disabled_account_is_refused_before_any_hook_runs():
    fake, runner = identity(MfaPolicy.off)
    with pytest.raises(IdentityError) as refused:
        await gate.admit(fake, proof(Factor.password, disabled=True))
    assert refused.value.code is ErrorCode.account_disabled
    assert runner.calls == []


async def test_only_a_reset_sign_in_passes_a_required_password_reset():
    fake, _ = identity(MfaPolicy.off)
    with pytest.raises(IdentityError) as refused:
        await gate.admit(fake, proof(Factor.password, password_reset_required=True))
    assert refused.value.code is ErrorCode.password_reset_required
    await gate.admit(fake, proof(Factor.reset, password_reset_required=True))


def test_a_login_request_picks_the_one_strategy_that_reads_its_credential():
    assert signin.for_login(v1.Login(username="ada", password="pw")) is password
    assert signin.for_login(v1.Login(phone="+33612345678", code="123456")) is code


@pytest.mark.parametrize(
    "credentials", [{}, {"password": "pw", "code": "123456"}], ids=["none", "both"]
)
def test_a_login_request_with_no_credential_or_two_is_invalid(credentials):
    with pytest.raises(InvalidParams):
        signin.for_login(v1.Login(username="ada", **credentials))
