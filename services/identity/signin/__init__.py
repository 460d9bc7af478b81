"""Ways to sign in, one module each, every one ending at the gate (`services.identity.gate`).

A strategy proves factors of one account and says so with a `gate.Proof` (whose account, the
method `user.logged_in` names, the factors, the client); the gate alone admits it (standing,
two-factor policy, post-login hooks) and opens the session. No strategy writes a session,
a remember token or an mfa challenge: tests/unit/test_layering.py holds that.

| module | command | proves |
|---|---|---|
| `password` | `login` with a password | `pwd`, throttled, one verify whatever the account |
| `code` | `login` with a code | `otp`, a code sent to a verified contact |
| `remember` | `auto_login` | the factors of the sign-in that issued the token |
| `reset_token` | `reset_password_with_token` | `reset`, a mailed token |
| `mfa` | `verify_mfa` | `mfa`, a code sent for the sign-in the gate held back |
| `totp` | `verify_mfa`, `factor: totp` | `otp`, `mfa`: a code of the account's authenticator app |
| `recovery_code` | `verify_mfa`, `factor: recovery_code` | `otp`, `mfa`: a recovery code, used up |

A strategy that needs a single-use credential spent in the sign-in's own transaction has a
`redeem(identity, con, ...)` beside its `prove(...)`: proving talks to the network (a code
check, a hash in a thread), so it runs before the transaction; redeeming only writes (the
spent credential, and the event that tells of it).

Where new ways plug in: a `login` request carries one credential, and `LOGIN` lists the
strategies that read one (`LoginStrategy`: `accepts`, `prove`). The second step of a held-back
sign-in is a `SecondFactorStrategy` (`prove`, `redeem`), chosen by `verify_mfa`'s `factor`
(`SECOND`). A passkey assertion and federation (an OIDC callback) are modules that prove
their factor after a challenge command of their own, as `mfa` does after `login`. Each adds a
module (an entry in `LOGIN` if `login` carries its credential, in `SECOND` if `verify_mfa`
does) and a `Factor` in the gate: never a branch in a flow.
"""

from collections.abc import Awaitable
from typing import Protocol

from contracts.identity import v1
from gatehouse.errors import InvalidParams
from services.identity.domain import Identifier
from services.identity.gate import Proof
from services.identity.service import IdentityService
from services.identity.signin import code, mfa, password, recovery_code, totp
from services.identity.signin.mfa import SecondFactor
from services.runtime.db import Connection


class LoginStrategy(Protocol):
    """A way to prove a `login` request's credential (a module is one)."""

    def accepts(self, request: v1.Login) -> bool: ...

    def prove(
        self, identity: IdentityService, ident: Identifier, request: v1.Login
    ) -> Awaitable[Proof]: ...


LOGIN: tuple[LoginStrategy, ...] = (password, code)


class SecondFactorStrategy(Protocol):
    """A way to prove the factor a held-back sign-in owes (`verify_mfa`; a module is one)."""

    def prove(
        self, identity: IdentityService, request: v1.VerifyMfa
    ) -> Awaitable[SecondFactor]: ...

    def redeem(
        self, identity: IdentityService, con: Connection, second: SecondFactor
    ) -> Awaitable[None]: ...


SECOND: dict[str, SecondFactorStrategy] = {
    "code": mfa,
    "totp": totp,
    "recovery_code": recovery_code,
}


def for_login(request: v1.Login) -> LoginStrategy:
    """The one strategy that reads the request's credential; two or none is invalid_params."""
    chosen = [strategy for strategy in LOGIN if strategy.accepts(request)]
    if len(chosen) != 1:
        raise InvalidParams("password", "give exactly one of password or code")
    return chosen[0]
