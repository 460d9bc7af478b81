"""Access tokens (issue 15): every path that issues a session issues one, other services verify
it on their own, forgeries are refused, `refresh` renews it, and the events that revoke
sessions name them."""

import base64
import hashlib
import hmac
import json
import logging
import time
import warnings
from datetime import datetime

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import OKPKey

from contracts.identity import v1, v2
from contracts.notifier import v1 as notifier
from gatehouse.access_tokens import (
    AccessTokenError,
    AccessTokenErrorCode,
    AccessTokenVerifier,
    BrokerJwks,
    HttpJwks,
)
from services.identity import signing_keys
from services.runtime.health import HealthServer
from tests.identity_support import (
    ACCESS_TOKENS,
    PASSWORD,
    env_settings,
    identity_env,
    tap,
    valid_phone,
)
from tests.support import error_code, random_email, random_username

ISSUER = ACCESS_TOKENS["access_token_issuer"]
NEW_PASSWORD = "another-horse-2"


@pytest.fixture(scope="module")
async def env(make_settings):
    settings = env_settings(make_settings, mfa="optional", **ACCESS_TOKENS)
    async with identity_env(settings) as env:
        yield env


@pytest.fixture
def verifier(env) -> AccessTokenVerifier:
    return AccessTokenVerifier(BrokerJwks(env.rpc), issuer=ISSUER, audience="orders")


def header_of(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def ok(env, command, body: dict) -> dict:
    reply = await env.call(command, body)
    assert reply["ok"], reply
    return reply["result"]


async def mailed_reset_token(env, username: str | None = None, **identifier: str) -> str:
    mails_exchange = env.settings.topology.internal
    request = {"username": username} if username is not None else identifier
    async with tap(env.settings, mails_exchange, notifier.send_security.routing_key) as mails:
        await ok(env, v1.send_password_reset_token, request)
        mail = await mails.wait_for(lambda b: True, wait_s=15)
    return mail["data"]["password_reset_token"]


async def mfa_user(env) -> tuple[str, str]:
    """A user with a verified phone and two-factor login on: (username, phone)."""
    user = await env.register()
    token, phone = user["session"]["token"], valid_phone()
    start = {"token": token, "type": "phone", "contact": phone, "channel": "inbox-sms"}
    await ok(env, v1.start_contact_verification, start)
    code = await env.inbox.code(phone)
    await ok(env, v1.confirm_contact, {"token": token, "code": code})
    await ok(env, v1.set_mfa, {"token": token, "enabled": True})
    return user["user"]["username"], phone


async def test_every_path_that_issues_a_session_issues_an_access_token_that_verifies(env, verifier):
    signed_in: dict[str, tuple[dict, list[str]]] = {}
    registered = await env.register(remember=True, email=random_email())
    signed_in["register with login"] = (registered, ["pwd"])
    username = registered["user"]["username"]
    email = random_email()
    code = await env.code(email, "register")
    with_code = await env.register(email=email, code=code, username=None)
    signed_in["register with a code"] = (with_code, ["otp", "pwd"])

    login = {"username": username, "password": PASSWORD, "remember": True}
    signed_in["password login"] = (await ok(env, v1.login, login), ["pwd"])
    code = await env.code(email, "login")
    signed_in["code login"] = (await ok(env, v1.login, {"email": email, "code": code}), ["otp"])
    auto = {"remember_token": registered["remember_token"]}
    signed_in["auto_login"] = (await ok(env, v1.auto_login, auto), ["pwd"])

    mfa_username, phone = await mfa_user(env)
    challenge = await ok(env, v1.login, {"username": mfa_username, "password": PASSWORD})
    assert challenge["mfa_required"] and challenge["access_token"] is None
    send = {"mfa_token": challenge["mfa_token"], "contact_id": "phone", "channel": "inbox-sms"}
    await ok(env, v1.send_mfa_code, send)
    verify = {"mfa_token": challenge["mfa_token"], "code": await env.inbox.code(phone)}
    signed_in["verify_mfa"] = (await ok(env, v1.verify_mfa, verify), ["mfa", "pwd"])

    for command in (v1.reset_password_with_token, v2.reset_password_with_token):
        # Mailed to the email the code proved (a reset mail goes only to a verified address).
        reset = {
            "email": email,
            "token": await mailed_reset_token(env, email=email),
            "new_password": PASSWORD,
        }
        signed_in[command.routing_key] = (await ok(env, command, reset), ["reset"])

    for path, (result, amr) in signed_in.items():
        claims = await verifier.verify(result["access_token"])
        assert claims.sub == result["user"]["id"], path
        assert claims.sid.startswith("s_"), path
        assert claims.amr == amr, path
        expires_at = datetime.fromisoformat(result["access_token_expires_at"])
        assert claims.exp == expires_at.timestamp(), path
    sids = {(await verifier.verify(r["access_token"])).sid for r, _ in signed_in.values()}
    assert len(sids) == len(signed_in), "one session, one sid"


async def test_a_token_names_user_and_session_by_public_id_and_nothing_more(env, verifier):
    result = await env.register(email=random_email(), phone=valid_phone())
    token = result["access_token"]
    header = header_of(token)
    assert header == {"typ": "at+jwt", "alg": "EdDSA", "kid": header["kid"]}
    jwks = await ok(env, v1.jwks, {})
    assert header["kid"] in {key["kid"] for key in jwks["keys"]}
    claims = (await verifier.verify(token)).model_dump(exclude_none=True)
    assert set(claims) == {"iss", "aud", "sub", "sid", "iat", "exp", "amr", "jti"}
    assert claims["iss"] == ISSUER and claims["aud"] == ["orders", "billing"]
    assert claims["exp"] - claims["iat"] == env.settings.access_token_ttl_s
    assert claims["sub"] == result["user"]["id"]
    billing = AccessTokenVerifier(BrokerJwks(env.rpc), issuer=ISSUER, audience="billing")
    assert (await billing.verify(token)).sub == claims["sub"]


async def test_refresh_mints_a_new_token_for_the_same_session(env, verifier):
    result = await env.register()
    first = await verifier.verify(result["access_token"])
    refreshed = await ok(env, v1.refresh, {"token": result["session"]["token"]})
    second = await verifier.verify(refreshed["access_token"])
    assert (second.sub, second.sid, second.amr) == (first.sub, first.sid, first.amr)
    assert second.jti != first.jti
    assert refreshed["expires_at"] >= result["session"]["expires_at"]


async def test_refresh_after_logout_or_deregistration_is_login_required(env):
    gone = await env.register()
    await ok(env, v1.logout, {"token": gone["session"]["token"]})
    reply = await env.call(v1.refresh, {"token": gone["session"]["token"]})
    assert error_code(reply) == "login_required"
    deleted = await env.register()
    token = deleted["session"]["token"]
    await ok(env, v1.deregister, {"token": token, "password": PASSWORD})
    assert error_code(await env.call(v1.refresh, {"token": token})) == "login_required"


async def refused(verifier: AccessTokenVerifier, token: str) -> AccessTokenErrorCode:
    with pytest.raises(AccessTokenError) as caught:
        await verifier.verify(token)
    assert token not in str(caught.value)
    return caught.value.code


async def test_forged_expired_and_foreign_tokens_are_refused(env, verifier):
    token = (await env.register())["access_token"]
    kid = header_of(token)["kid"]
    public = next(k for k in (await ok(env, v1.jwks, {}))["keys"] if k["kid"] == kid)
    _, payload, _ = token.split(".")

    # alg none, and HS256 keyed with the public key (as JSON, and as its raw bytes).
    none = b64(json.dumps({"typ": "at+jwt", "alg": "none", "kid": kid}).encode())
    assert await refused(verifier, f"{none}.{payload}.") == "algorithm_refused"
    hs256 = b64(json.dumps({"typ": "at+jwt", "alg": "HS256", "kid": kid}).encode())
    for secret in (json.dumps(public).encode(), base64.urlsafe_b64decode(public["x"] + "==")):
        mac = hmac.new(secret, f"{hs256}.{payload}".encode(), hashlib.sha256).digest()
        assert await refused(verifier, f"{hs256}.{payload}.{b64(mac)}") == "algorithm_refused"

    # Signed by a key identity never published: under its own kid, and under the real one.
    stranger = OKPKey.generate_key("Ed25519")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        for name, code in (("stranger", "key_unknown"), (kid, "signature_invalid")):
            header = {"typ": "at+jwt", "alg": "EdDSA", "kid": name}
            forged = jwt.encode(header, claims, stranger, algorithms=["EdDSA"])
            assert await refused(verifier, forged) == code
    tampered = b64(json.dumps({**claims, "sub": "u_someone_else"}).encode())
    head, _, signature = token.split(".")
    assert await refused(verifier, f"{head}.{tampered}.{signature}") == "signature_invalid"

    source = BrokerJwks(env.rpc)
    later = time.time() + env.settings.access_token_ttl_s + 31
    expired = AccessTokenVerifier(source, issuer=ISSUER, audience="orders", clock=lambda: later)
    assert await refused(expired, token) == "token_expired"
    other_audience = AccessTokenVerifier(source, issuer=ISSUER, audience="payroll")
    assert await refused(other_audience, token) == "audience_invalid"
    other_issuer = AccessTokenVerifier(source, issuer="https://evil.test", audience="orders")
    assert await refused(other_issuer, token) == "issuer_invalid"
    assert (await verifier.verify(token)).sub == claims["sub"]


async def test_the_jwk_set_is_served_over_http_with_cache_headers(env):
    server = HealthServer(0, [], host="127.0.0.1", routes=env.identity.http_routes)
    await server.start()
    try:
        url = f"http://127.0.0.1:{server.port}/.well-known/jwks.json"
        async with httpx.AsyncClient() as client:
            response = await client.get(url)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/jwk-set+json"
        max_age = int(env.settings.signing_key_reload_s)
        assert response.headers["cache-control"] == f"public, max-age={max_age}"
        over_the_broker = await ok(env, v1.jwks, {})
        assert response.json() == {
            "keys": [
                {k: v for k, v in key.items() if v is not None} for key in over_the_broker["keys"]
            ]
        }
        assert all("d" not in key for key in response.json()["keys"])
        source = HttpJwks(url)
        try:
            token = (await env.register())["access_token"]
            verifier = AccessTokenVerifier(source, issuer=ISSUER, audience=["orders"])
            assert (await verifier.verify(token)).amr == ["pwd"]
        finally:
            await source.aclose()
    finally:
        await server.stop()


async def test_events_that_revoke_sessions_name_them(env):
    async with tap(env.settings, env.settings.topology.events) as events:
        user = await env.register_verified(random_email())
        subject, username = user["user"]["id"], user["user"]["username"]
        login = {"username": username, "password": PASSWORD}
        others = [await ok(env, v1.login, login) for _ in range(2)]
        sid = {}
        for result in (user, *others):
            sid[result["session"]["token"]] = jwt_claims(result["access_token"])["sid"]

        await ok(env, v1.logout, {"token": others[0]["session"]["token"]})
        logged_out = (await events.event("user.logged_out.v1", subject))["data"]
        assert logged_out["revoked_session_ids"] == [sid[others[0]["session"]["token"]]]
        assert logged_out["all_sessions_revoked"] is False

        change = {"token": user["session"]["token"], "old_password": PASSWORD}
        await ok(env, v1.change_password, {**change, "new_password": NEW_PASSWORD})
        changed = (await events.event("user.password_changed.v1", subject))["data"]
        assert changed["revoked_session_ids"] == [sid[others[1]["session"]["token"]]]
        assert changed["all_sessions_revoked"] is False

        fresh = await ok(env, v1.login, {**login, "password": NEW_PASSWORD})
        reset = {"username": username, "token": await mailed_reset_token(env, username)}
        signed = await ok(env, v1.reset_password_with_token, {**reset, "new_password": PASSWORD})
        was_reset = (await events.event("user.password_reset.v1", subject))["data"]
        expected = sorted([sid[user["session"]["token"]], jwt_claims(fresh["access_token"])["sid"]])
        assert was_reset["revoked_session_ids"] == expected
        assert was_reset["all_sessions_revoked"] is True
        assert jwt_claims(signed["access_token"])["sid"] not in expected

        token = signed["session"]["token"]
        await ok(env, v1.deregister, {"token": token, "password": PASSWORD})
        deregistered = (await events.event("user.deregistered.v1", subject))["data"]
        assert deregistered["revoked_session_ids"] == [jwt_claims(signed["access_token"])["sid"]]
        assert deregistered["all_sessions_revoked"] is True


def jwt_claims(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


async def test_the_private_keys_never_leave_identity(env, verifier, caplog):
    caplog.set_level(logging.DEBUG)
    rows = await env.identity.pool.fetch("SELECT kid, private_sealed FROM signing_keys")
    seal_key = env.settings.signing_seal_key
    privates = [
        signing_keys.unseal(seal_key, r["kid"], bytes(r["private_sealed"])).as_dict(private=True)
        for r in rows
    ]
    secrets = [str(p["d"]) for p in privates]
    assert secrets and all(secret not in str(rows) for secret in secrets)
    seen: list[str] = []
    async with tap(env.settings, env.settings.topology.events) as events:
        email = random_email()
        code = await env.code(email, "register")
        result = await env.register(email=email, code=code, username=random_username())
        token = result["session"]["token"]
        seen.append(json.dumps(result))
        seen.append(json.dumps(await ok(env, v1.refresh, {"token": token})))
        seen.append(json.dumps(await ok(env, v1.jwks, {})))
        await ok(env, v1.deregister, {"token": token, "password": PASSWORD})
        await events.event("user.deregistered.v1", result["user"]["id"])
        seen += [m.body.decode() for m in events.messages]
    seen.append(caplog.text)
    for text in seen:
        assert not any(secret in text for secret in secrets)
    assert result["access_token"] not in caplog.text


async def test_with_access_tokens_off_no_reply_carries_one(make_settings):
    async with identity_env(env_settings(make_settings), with_verification=False) as env:
        result = await env.register()
        assert result["access_token"] is None and result["access_token_expires_at"] is None
        reply = await env.call(v1.refresh, {"token": result["session"]["token"]})
        assert error_code(reply) == "invalid_operation"
        assert await ok(env, v1.jwks, {}) == {"keys": []}
        assert env.identity.http_routes == {}
