"""`gatehouse users ...` against a running identity service (issue 16): rich tables, a
confirmation before delete (or `--yes`), and one clear line on errors."""

import asyncio
import shutil
import sys
from datetime import datetime, timedelta

import pytest
from pydantic import SecretStr

from tests.identity_support import env_settings, identity_env
from tests.integration.test_cli import environment
from tests.rabbitmq_support import throwaway_users
from tests.support import error_code, random_email


@pytest.fixture(scope="module")
async def env(make_settings):
    async with identity_env(env_settings(make_settings), with_verification=False) as env:
        yield env


async def gatehouse(settings, *args: str, stdin: str = "") -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from services.cli import main; main()",
        *args,
        env={**environment(settings), "COLUMNS": "200"},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_find_shows_the_user_in_a_table(env):
    email = random_email()
    user = (await env.register(email=email))["user"]
    code, out, _ = await gatehouse(env.settings, "users", "find", "--email", email)
    assert code == 0
    assert user["id"] in out and email in out and "active" in out and "last_login_at" in out


async def test_list_pages_with_a_token(env):
    first = (await env.register())["user"]
    second = (await env.register())["user"]
    since = datetime.fromisoformat(first["created_at"]) - timedelta(microseconds=1)
    args = ("users", "list", "--limit", "1", "--created-after", since.isoformat())
    code, out, _ = await gatehouse(env.settings, *args)
    assert code == 0 and first["id"] in out and "next page: --page-token " in out
    token = out.split("--page-token ", 1)[1].split()[0]
    code, out, _ = await gatehouse(env.settings, *args, "--page-token", token)
    assert code == 0 and first["id"] not in out and second["id"] in out


async def test_disable_enable_and_revoke(env):
    user = await env.register()
    uid, username = user["user"]["id"], user["user"]["username"]
    code, out, _ = await gatehouse(env.settings, "users", "revoke", uid, "--reason", "lost phone")
    assert code == 0 and f"revoked 1 session(s) of {uid}" in out
    code, out, _ = await gatehouse(env.settings, "users", "disable", uid, "--reason", "spam")
    assert code == 0 and "disabled" in out and "spam" in out
    assert error_code(await env.login(username)) == "account_disabled"
    code, out, _ = await gatehouse(env.settings, "users", "enable", uid)
    assert code == 0 and "active" in out
    assert (await env.login(username))["ok"]


async def test_delete_asks_first_and_deletes_only_on_the_typed_id(env):
    user = (await env.register(login=False))["user"]
    uid = user["id"]
    code, _, err = await gatehouse(
        env.settings, "users", "delete", uid, "--reason", "request", stdin="no\n"
    )
    assert code == 1 and err.strip() == "gatehouse: nothing deleted"
    assert (await env.login(user["username"]))["ok"]
    code, out, _ = await gatehouse(
        env.settings, "users", "delete", uid, "--reason", "request", stdin=f"{uid}\n"
    )
    assert code == 0 and f"deleted {uid}" in out
    assert error_code(await env.login(user["username"])) == "invalid_credentials"


async def test_delete_with_yes_does_not_ask(env):
    user = (await env.register(login=False))["user"]
    code, out, _ = await gatehouse(
        env.settings, "users", "delete", user["id"], "--reason", "request", "--yes"
    )
    assert code == 0 and f"deleted {user['id']}" in out


async def test_an_error_is_one_clear_line(env):
    code, out, err = await gatehouse(env.settings, "users", "find", "--id", "u_nobody")
    assert code == 1 and out == ""
    assert err.strip() == "gatehouse: not_found: no such user"
    code, _, err = await gatehouse(
        env.settings,
        "users",
        "disable",
        "u_x",
        "--reason",
        "x",
        "--until",
        "2001-01-01T00:00:00+00:00",
    )
    assert code == 1 and err.count("\n") == 1 and err.startswith("gatehouse: invalid_params: until")


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl")
async def test_a_user_without_admin_rights_is_told_so_in_one_line(env):
    with throwaway_users(env.settings, roles=("callers",)) as urls:
        caller = env.settings.model_copy(update={"amqp_url": SecretStr(urls["callers"])})
        code, _, err = await gatehouse(caller, "users", "find", "--id", "u_nobody")
    assert code == 1 and err.count("\n") == 1
    assert "may not publish to" in err and "GATEHOUSE_AMQP_URL" in err


async def test_gatehouse_call_reaches_the_admin_exchange_too(env):
    user = (await env.register(email=random_email()))["user"]
    body = f'{{"id": "{user["id"]}"}}'
    code, out, _ = await gatehouse(env.settings, "call", "admin.find_user.v1", body)
    assert code == 0 and user["id"] in out
