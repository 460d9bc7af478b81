"""Access tokens as ops run them: identity in its own process (`faststream run`) serving its JWK
Set over HTTP, and `gatehouse keys rotate|list` from another process. The running identity
publishes the rotated key without a restart, before it signs anything with it."""

import asyncio
import base64
import json
import os
import sys
from datetime import datetime

import httpx

from contracts.identity import v1
from gatehouse.access_tokens import AccessTokenVerifier, HttpJwks
from gatehouse.rpc import RpcClient
from tests.identity_support import ACCESS_TOKENS, SIGNING_SECRET, own_database
from tests.process_support import free_port, start_service
from tests.support import call, random_username

ISSUER = ACCESS_TOKENS["access_token_issuer"]
RELOAD_S = 0.5


def token_env(settings, **extra: str) -> dict[str, str]:
    return {
        "GATEHOUSE_ACCESS_TOKENS": "jwt",
        "GATEHOUSE_SIGNING_KEY_SECRET": SIGNING_SECRET,
        "GATEHOUSE_ACCESS_TOKEN_ISSUER": ISSUER,
        "GATEHOUSE_ACCESS_TOKEN_AUDIENCE": json.dumps(ACCESS_TOKENS["access_token_audience"]),
        "GATEHOUSE_SIGNING_KEY_RELOAD_S": str(RELOAD_S),
        **extra,
    }


async def gatehouse(settings, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    environment = {
        **os.environ,
        "GATEHOUSE_DATABASE_URL": settings.database_url.get_secret_value(),
        "GATEHOUSE_MODE": "prod",
        **env,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from services.cli import main; main()",
        *args,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def served_kids(client: httpx.AsyncClient, url: str) -> list[str]:
    return [key["kid"] for key in (await client.get(url)).json()["keys"]]


async def test_identity_serves_its_jwk_set_and_publishes_a_rotated_key_without_a_restart(
    make_settings, infrastructure
):
    async with own_database(infrastructure) as database:
        settings = make_settings(database_url=database)
        env = token_env(settings)
        port = free_port()
        url = f"http://127.0.0.1:{port}/.well-known/jwks.json"
        proc = await start_service(settings, port, "services.identity.app:app", env)
        try:
            async with (
                httpx.AsyncClient() as client,
                RpcClient(settings.amqp_url.get_secret_value(), settings.topology) as rpc,
            ):
                response = await client.get(url)
                assert response.status_code == 200
                assert response.headers["cache-control"] == f"public, max-age={int(RELOAD_S)}"
                (first,) = [key["kid"] for key in response.json()["keys"]]

                body = {"username": random_username(), "password": "correct-horse-1", "login": True}
                registered = await call(rpc, v1.register, body)
                token = registered["result"]["access_token"]
                source = HttpJwks(url)
                try:
                    verifier = AccessTokenVerifier(source, ISSUER, "orders")
                    assert (await verifier.verify(token)).sub == registered["result"]["user"]["id"]
                finally:
                    await source.aclose()

                wrong = {
                    **env,
                    "GATEHOUSE_SIGNING_KEY_SECRET": "not-the-secret-but-long-enough-0123456789",
                }
                code, _, err = await gatehouse(settings, wrong, "keys", "rotate")
                assert code == 1 and "GATEHOUSE_SIGNING_KEY_SECRET does not open" in err
                no_secret = {k: v for k, v in env.items() if k != "GATEHOUSE_SIGNING_KEY_SECRET"}
                code, _, err = await gatehouse(settings, no_secret, "keys", "rotate")
                assert code == 1 and "GATEHOUSE_SIGNING_KEY_SECRET is required" in err

                code, out, _ = await gatehouse(settings, env, "keys", "rotate")
                assert code == 0, out
                (second,) = [kid for kid in out.split() if len(kid) == 43 and kid != first]
                code, listing, _ = await gatehouse(settings, env, "keys", "list")
                assert code == 0
                rows = [line.split() for line in listing.splitlines()[1:]]
                assert [row[0] for row in rows] == [first, second]
                signs_from = datetime.fromisoformat(f"{rows[1][4]}T{rows[1][5]}")
                assert signs_from > datetime.now(signs_from.tzinfo)

                # Published by the running process within a reload, while it still signs
                # with the first key.
                for _ in range(50):
                    if second in await served_kids(client, url):
                        break
                    await asyncio.sleep(0.1)
                assert await served_kids(client, url) == [first, second]
                login = {"username": body["username"], "password": body["password"]}
                result = (await call(rpc, v1.login, login))["result"]
                header = result["access_token"].split(".")[0]
                assert json.loads(base64.urlsafe_b64decode(header + "=="))["kid"] == first
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 30)
