"""Nobody can lock an owner out, and nobody can spray (issue 22, point 5), as an attacker would
try it: a password spray on one account does not keep its owner out (their own client has a
lane of its own; a code gets them in from anywhere and makes that client theirs), while a
spray from one client_ip, from one AMQP user, or from everywhere at once is cut off with
`rate_limited` before any hash is computed."""

import asyncio
import secrets

import pytest

from contracts.identity import v1
from gatehouse.rpc import RpcClient, amqp_user
from tests.identity_support import PASSWORD, env_settings, identity_env
from tests.support import call, error_code, random_email, random_username

MAX_FAILURES = 3
PER_IP = 5
PER_CALLER = 8


@pytest.fixture(scope="module")
async def env(make_settings):
    settings = env_settings(
        make_settings,
        login_max_failures=MAX_FAILURES,
        login_max_failures_per_client_ip=PER_IP,
        login_max_failures_per_caller=PER_CALLER,
        login_max_failures_global=100_000,
    )
    async with identity_env(settings) as env:
        yield env


def random_ip() -> str:
    return f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


def client(ip: str) -> dict:
    return {"client_ip": ip, "user_agent": "pytest"}


async def spray(env, username: str, tries: int) -> list[str | None]:
    """Wrong passwords on one account, each from another address (a botnet)."""
    replies = [
        await env.call(
            v1.login,
            {"username": username, "password": f"guess-{n:04}", "client": client(random_ip())},
        )
        for n in range(tries)
    ]
    return [error_code(r) for r in replies]


async def test_the_owner_signs_in_from_their_own_client_during_a_spray_on_their_account(env):
    user = await env.register()
    username, home = user["user"]["username"], random_ip()
    assert (await env.login(username, client=client(home)))["ok"]  # the owner, at home
    codes = await spray(env, username, 3 * MAX_FAILURES)
    assert codes[-1] == "too_many_attempts"
    # Anyone else, even with the right password, is still held back...
    elsewhere = await env.login(username, client=client(random_ip()))
    assert error_code(elsewhere) == "too_many_attempts"
    # ...but the owner's own client is not: the spray never touched its lane.
    reply = await env.login(username, client=client(home))
    assert reply["ok"], reply


async def test_the_owners_own_lane_still_counts_their_failures(env):
    user = await env.register()
    username, home = user["user"]["username"], random_ip()
    assert (await env.login(username, client=client(home)))["ok"]
    for n in range(MAX_FAILURES):
        body = {"username": username, "password": f"typo-{n:04}", "client": client(home)}
        assert error_code(await env.call(v1.login, body)) == "invalid_credentials"
    assert error_code(await env.login(username, client=client(home))) == "too_many_attempts"


async def test_an_owner_on_a_new_client_gets_in_with_a_code_which_makes_the_client_theirs(env):
    email = random_email()
    user = await env.register(email=email, code=await env.code(email, "register"))
    await spray(env, user["user"]["username"], 3 * MAX_FAILURES)
    cafe = random_ip()
    by_password = await env.call(
        v1.login, {"email": email, "password": PASSWORD, "client": client(cafe)}
    )
    assert error_code(by_password) == "invalid_credentials"  # throttled, and says nothing
    code = await env.code(email, "login")
    by_code = await env.call(v1.login, {"email": email, "code": code, "client": client(cafe)})
    assert by_code["ok"], by_code
    again = await env.call(v1.login, {"email": email, "password": PASSWORD, "client": client(cafe)})
    assert again["ok"], again


async def test_a_spray_from_one_client_ip_is_cut_off_before_any_hash(env):
    ip = random_ip()
    codes = [
        error_code(
            await env.call(
                v1.login,
                {"username": random_username(), "password": "Summer2026!", "client": client(ip)},
            )
        )
        for _ in range(PER_IP + 2)
    ]
    assert codes == ["invalid_credentials"] * PER_IP + ["rate_limited"] * 2
    user = await env.register()
    cut = await env.login(user["user"]["username"], client=client(ip))
    assert error_code(cut) == "rate_limited"
    assert 0 < cut["error"]["details"]["retry_after_s"] <= 60
    # Another address is not that client.
    assert (await env.login(user["user"]["username"], client=client(random_ip())))["ok"]


async def test_rotating_addresses_inside_one_ipv6_64_is_one_client(env):
    prefix = f"2001:db8:{secrets.randbelow(0xFFFF):x}:{secrets.randbelow(0xFFFF):x}"
    codes = [
        error_code(
            await env.call(
                v1.login,
                {
                    "username": random_username(),
                    "password": "Summer2026!",
                    "client": client(f"{prefix}::{n + 1:x}"),
                },
            )
        )
        for n in range(PER_IP + 1)
    ]
    assert codes[-1] == "rate_limited", codes


async def test_concurrent_guesses_from_one_client_cannot_slip_past_its_limit(env):
    ip = random_ip()
    replies = await asyncio.gather(
        *(
            env.call(
                v1.login,
                {"username": random_username(), "password": "Winter2026!", "client": client(ip)},
            )
            for _ in range(4 * PER_IP)
        )
    )
    codes = [error_code(r) for r in replies]
    assert codes.count("invalid_credentials") == PER_IP, codes
    assert codes.count("rate_limited") == 3 * PER_IP, codes


async def test_a_spray_from_one_amqp_user_is_cut_off(env):
    url = env.settings.amqp_url.get_secret_value()
    async with RpcClient(
        url, env.settings.topology, timeout_s=10, user_id=amqp_user(url)
    ) as caller:
        codes = [
            error_code(
                await call(
                    caller, v1.login, {"username": random_username(), "password": "Autumn2026!"}
                )
            )
            for _ in range(PER_CALLER + 1)
        ]
        assert codes == ["invalid_credentials"] * PER_CALLER + ["rate_limited"], codes
        user = await env.register()
        body = {"username": user["user"]["username"], "password": PASSWORD}
        assert error_code(await call(caller, v1.login, body)) == "rate_limited"
    # A caller that is not that AMQP user is not cut off.
    assert (await env.login(user["user"]["username"]))["ok"]


async def test_a_right_password_is_taken_back_from_the_clients_count(env):
    # An office: many people behind one address, each signing in there for the first time.
    ip = random_ip()
    for _ in range(2 * PER_IP):
        user = await env.register()
        assert (await env.login(user["user"]["username"], client=client(ip)))["ok"]
    # Their successes did not use up the address's budget of failures.
    codes = [
        error_code(
            await env.call(
                v1.login,
                {"username": random_username(), "password": "Typo2026!", "client": client(ip)},
            )
        )
        for _ in range(PER_IP)
    ]
    assert codes == ["invalid_credentials"] * PER_IP


async def test_the_global_budget_cuts_a_spray_from_everywhere(make_settings):
    settings = env_settings(
        make_settings,
        login_max_failures=MAX_FAILURES,
        login_max_failures_global=6,
        login_spray_window_s=30,
    )
    async with identity_env(settings, with_verification=False) as env:
        # The run's database is shared: start from an empty global count.
        await env.identity.pool.execute(
            "DELETE FROM login_failures WHERE account_key = 'spray:global'"
        )
        owner = await env.register()
        home = random_ip()
        assert (await env.login(owner["user"]["username"], client=client(home)))["ok"]
        codes = [
            error_code(
                await env.call(
                    v1.login,
                    {
                        "username": random_username(),
                        "password": "Spring2026!",
                        "client": client(random_ip()),
                    },
                )
            )
            for _ in range(8)
        ]
        assert codes == ["invalid_credentials"] * 6 + ["rate_limited"] * 2, codes
        stranger = await env.register()
        cut = await env.login(stranger["user"]["username"], client=client(random_ip()))
        assert error_code(cut) == "rate_limited"
        assert 0 < cut["error"]["details"]["retry_after_s"] <= 30
        # An owner at a client they proved a factor from is nobody's spray.
        assert (await env.login(owner["user"]["username"], client=client(home)))["ok"]
        await env.identity.pool.execute(
            "DELETE FROM login_failures WHERE account_key = 'spray:global'"
        )
