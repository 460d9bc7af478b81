from contracts.identity import v1
from tests.identity_support import PASSWORD, env_settings, identity_env
from tests.support import random_email, random_username


async def test_smoke(make_settings):
    settings = env_settings(make_settings)
    async with identity_env(settings) as env:
        email = random_email()
        code = await env.code(email, "register")
        reply = await env.call(
            v1.register, {"email": email, "code": code, "password": PASSWORD, "login": True}
        )
        assert reply["ok"], reply
        print(reply)
        token = reply["result"]["session"]["token"]
        reply = await env.call(v1.authenticate, {"token": token})
        assert reply["ok"], reply
        reply = await env.call(v1.login, {"email": email, "password": PASSWORD})
        assert reply["ok"], reply
        reply = await env.call(v1.login, {"email": email, "password": "wrong-pass"})
        print(reply)
        reply = await env.call(v1.login, {"username": random_username(), "password": "wrong-pass"})
        print(reply)
