"""One user's life, driven only through messages, with every lifecycle event observed."""

import json

from contracts.identity import v1
from tests.identity_support import PASSWORD, env_settings, identity_env, tap, valid_phone
from tests.support import error_code, random_email


def assert_no_secrets(event: dict, secrets: list[str]) -> None:
    text = json.dumps(event)
    for secret in secrets:
        assert secret not in text, f"{event['type']} carries a secret"
    for key in event["data"]:
        assert not any(word in key for word in ("password", "hash", "token", "code")), event


async def test_register_login_bind_unbind_reset_and_deregister(make_settings):
    settings = env_settings(make_settings)
    secrets: list[str] = []
    async with identity_env(settings) as env, tap(settings, settings.topology.events) as events:
        email, phone = random_email(), valid_phone()

        # Register with email + code: the email is verified.
        code = await env.code(email, "register")
        secrets += [code, PASSWORD]
        reply = await env.call(v1.register, {"email": email, "code": code, "password": PASSWORD})
        assert reply["ok"], reply
        user = reply["result"]["user"]
        assert user["email"] == email and user["email_verified"]
        assert reply["result"]["session"] is None
        uid = user["id"]
        registered = await events.event("user.registered.v1", uid)
        assert registered["data"]["email"] == email

        # Log in with email + password, then authenticate the session.
        reply = await env.call(v1.login, {"email": email, "password": PASSWORD})
        assert reply["ok"], reply
        first_token = reply["result"]["session"]["token"]
        secrets.append(first_token)
        await events.wait_for(
            lambda e: (
                e["type"] == "user.logged_in.v1"
                and e["data"]["method"] == "email_password"
                and e["subject"] == uid
            )
        )
        reply = await env.call(v1.authenticate, {"token": first_token})
        assert reply["ok"] and reply["result"]["user"]["id"] == uid

        # Bind a phone with a bind code, then log in with phone + code.
        code = await env.code(phone, "bind")
        secrets.append(code)
        reply = await env.call(
            v1.bind_contact, {"token": first_token, "phone": phone, "code": code}
        )
        assert reply["ok"], reply
        assert reply["result"]["user"]["phone"] == phone
        assert reply["result"]["user"]["phone_verified"]
        bound = await events.event("user.contact_bound.v1", uid)
        assert bound["data"]["contact"] == {"type": "phone", "value": phone}

        code = await env.code(phone, "login")
        secrets.append(code)
        reply = await env.call(v1.login, {"phone": phone, "code": code})
        assert reply["ok"], reply
        phone_token = reply["result"]["session"]["token"]
        secrets.append(phone_token)
        await events.wait_for(
            lambda e: e["type"] == "user.logged_in.v1" and e["data"]["method"] == "phone_code"
        )

        # Unbind the phone with an unbind code sent to it.
        code = await env.code(phone, "unbind")
        secrets.append(code)
        reply = await env.call(
            v1.unbind_contact, {"token": phone_token, "contact_type": "phone", "code": code}
        )
        assert reply["ok"], reply
        assert reply["result"]["user"]["phone"] is None
        await events.event("user.contact_unbound.v1", uid)

        # Reset the password with a code: every session so far is revoked.
        new_password = "brand-new-secret-2"
        code = await env.code(email, "reset_password")
        secrets += [code, new_password]
        reply = await env.call(
            v1.reset_password, {"email": email, "code": code, "new_password": new_password}
        )
        assert reply["ok"], reply
        await events.event("user.password_reset.v1", uid)
        for token in (first_token, phone_token):
            reply = await env.call(v1.authenticate, {"token": token})
            assert error_code(reply) == "login_required"
            assert reply["error"]["status"] == 11
        reply = await env.call(v1.login, {"email": email, "password": PASSWORD})
        assert error_code(reply) == "invalid_credentials"

        # Log in with the new password and log out.
        reply = await env.call(v1.login, {"email": email, "password": new_password})
        assert reply["ok"], reply
        token = reply["result"]["session"]["token"]
        secrets.append(token)
        assert (await env.call(v1.logout, {"token": token}))["ok"]
        await events.event("user.logged_out.v1", uid)
        assert error_code(await env.call(v1.get_user, {"token": token})) == "login_required"

        # Properties, then deregister with a code.
        reply = await env.call(v1.login, {"email": email, "password": new_password})
        token = reply["result"]["session"]["token"]
        secrets.append(token)
        reply = await env.call(v1.save_properties, {"token": token, "properties": {"age": 21}})
        assert reply["ok"] and reply["result"]["properties"] == {"age": 21}
        updated = await events.event("user.properties_updated.v1", uid)
        assert updated["data"]["keys"] == ["age"]

        code = await env.code(email, "deregister")
        secrets.append(code)
        reply = await env.call(v1.deregister, {"token": token, "code": code})
        assert reply["ok"], reply
        gone = await events.event("user.deregistered.v1", uid)
        assert gone["data"]["contacts"] == [{"type": "email", "value": email}]

        # The account is gone: no login, no session.
        reply = await env.call(v1.login, {"email": email, "password": new_password})
        assert error_code(reply) == "invalid_credentials"
        assert error_code(await env.call(v1.get_user, {"token": token})) == "login_required"

        for event in events.bodies():
            assert event["specversion"] == "1.0" and event["source"] == "gatehouse/identity"
            assert_no_secrets(event, secrets)
        seen = {e["type"] for e in events.bodies()}
        assert seen >= {
            "user.registered.v1",
            "user.logged_in.v1",
            "user.logged_out.v1",
            "user.contact_bound.v1",
            "user.contact_unbound.v1",
            "user.password_reset.v1",
            "user.properties_updated.v1",
            "user.deregistered.v1",
        }
