"""The hand-written references answer what ours answers: the access-token reference accepts
and refuses the same tokens with the same codes, and the benchmark script imports (its
sub-commands and goals are the ones issue 27 names)."""

import time
from typing import Any

import pytest
from joserfc.jwk import ECKey

from benchmarks import hand_written
from benchmarks.references import access_token as reference
from gatehouse.access_tokens import AccessTokenError
from tests.unit.test_access_token_verifier import (
    AUDIENCE,
    ISSUER,
    FakeJwks,
    b64,
    okp,
    sign,
    verifier,
)


def verdict_of_ours(error: AccessTokenError | None) -> str:
    return "ok" if error is None else str(error.code)


async def both(source: FakeJwks, token: str) -> tuple[str, str]:
    ours: Any = None
    try:
        await verifier(source).verify(token)
    except AccessTokenError as exc:
        ours = exc
    try:
        await reference.Verifier(source.fetch, ISSUER, AUDIENCE).verify(token)
        theirs = "ok"
    except reference.Refused as exc:
        theirs = exc.code
    return verdict_of_ours(ours), theirs


ED = okp()
EC = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})
NOW = int(time.time())
CASES = {
    "valid": sign(ED),
    "valid ES256": sign(EC, alg="ES256"),
    "RFC 9864 name": sign(ED, alg="Ed25519"),
    "expired": sign(ED, exp=NOW - 120),
    "within leeway": sign(ED, exp=NOW - 10),
    "not yet valid": sign(ED, nbf=NOW + 120),
    "issued in the future": sign(ED, iat=NOW + 120),
    "other issuer": sign(ED, iss="https://elsewhere.test"),
    "other audience": sign(ED, aud="billing"),
    "no sid": sign(ED, sid=None),
    "no exp": sign(ED, exp=None),
    "bad amr": sign(ED, amr=["magic"]),
    "wrong typ": sign(ED, typ="JWT"),
    "unknown kid": sign(ED, kid="nobody"),
    "ES256 header on an OKP key": sign(ED).replace(
        sign(ED).split(".")[0], b64(b'{"alg":"ES256","typ":"at+jwt","kid":"ed-1"}')
    ),
    "alg none": b64(b'{"alg":"none","typ":"at+jwt","kid":"ed-1"}')
    + "."
    + sign(ED).split(".")[1]
    + ".",
    "bad signature": sign(ED)[:-4] + "AAAA",
    "not a JWS": "abc.def",
    "too long": "a." + "b" * 9000 + ".c",
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_the_access_token_reference_gives_our_verdict(case: str) -> None:
    ours, theirs = await both(FakeJwks(ED, EC), CASES[case])
    assert ours == theirs


def test_the_script_measures_each_hot_command_against_issue_27s_goal() -> None:
    assert set(hand_written.GOALS) == {"authenticate", "send_code", "login", "access_token"}
    assert set(hand_written.MEASURES) <= set(hand_written.GOALS)
