"""A contact counts only once proved (issue 22, point 1): an attacker who registers with a
victim's address and no code gets nothing of the victim's, blocks nothing, and loses the
address to the victim as soon as the victim proves it."""

import asyncio
from functools import partial

import pytest

from contracts.identity import v1
from services.identity import store
from services.identity.domain import Identifier, IdKind, new_public_id
from services.identity.service import IdentityService
from tests.identity_support import PASSWORD, env_settings, identity_env, tap, valid_phone
from tests.support import error_code, random_email, random_username

ATTACKER_PASSWORD = "attacker-knows-1"
VICTIM_PASSWORD = "victim-owns-it-2"


@pytest.fixture(scope="module")
async def env(make_settings):
    async with identity_env(env_settings(make_settings)) as env:
        yield env


async def claim(env, **contacts) -> dict:
    """The attacker registers with the victim's contact and no code."""
    body = {"password": ATTACKER_PASSWORD, "login": True, **contacts}
    reply = await env.call(v1.register, body)
    assert reply["ok"], reply
    assert not reply["result"]["user"]["email_verified"]
    assert not reply["result"]["user"]["phone_verified"]
    return reply["result"]


async def user_row(env, public_id: str):
    return await env.identity.pool.fetchrow(
        "SELECT email, email_verified, phone, phone_verified, username, released_at"
        " FROM users WHERE public_id = $1",
        public_id,
    )


async def test_the_pre_hijack_ends_with_the_victim_in_their_own_account(env):
    victim = random_email()
    attacker = await claim(env, email=victim)
    attacker_id, attacker_session = attacker["user"]["id"], attacker["session"]["token"]

    # The victim tries to sign in with a code: the claim leads nowhere, answered as for an
    # address nobody registered.
    code = await env.code(victim, "login")
    reply = await env.call(v1.login, {"email": victim, "code": code})
    nobody = random_email()
    unknown = await env.call(v1.login, {"email": nobody, "code": await env.code(nobody, "login")})
    assert error_code(reply) == "invalid_credentials" and reply == unknown
    # Registering without a code proves nothing and takes nothing.
    taken = await env.call(v1.register, {"email": victim, "password": VICTIM_PASSWORD})
    assert error_code(taken) == "email_taken"
    # Checking availability first does not block the victim either.
    assert (await env.call(v1.validate_registration, {"email": victim}))["ok"]

    async with tap(env.settings, env.settings.topology.events, "user.contact_unbound.v1") as t:
        code = await env.code(victim, "register")
        body = {"email": victim, "code": code, "password": VICTIM_PASSWORD, "login": True}
        registered = await env.call(v1.register, body)
        assert registered["ok"], registered
        lost = await t.event("user.contact_unbound.v1", attacker_id)
    owner = registered["result"]["user"]
    assert owner["id"] != attacker_id and owner["email"] == victim and owner["email_verified"]
    assert lost["data"]["contact"] == {"type": "email", "value": victim}
    assert lost["data"]["verified"] is False and lost["data"].get("client") is None

    # A code sign-in now lands in the victim's account, and only there.
    code = await env.code(victim, "login")
    signed = await env.call(v1.login, {"email": victim, "code": code})
    assert signed["ok"] and signed["result"]["user"]["id"] == owner["id"]
    # The attacker's password reaches nothing of the victim's.
    stolen = await env.call(v1.login, {"email": victim, "password": ATTACKER_PASSWORD})
    assert error_code(stolen) == "invalid_credentials"
    # The attacker's own session still opens the attacker's own account, which lost the
    # address; with nothing left to sign in by, it is marked released for operators.
    mine = await env.call(v1.get_user, {"token": attacker_session})
    assert mine["result"]["user"]["id"] == attacker_id and mine["result"]["user"]["email"] is None
    row = await user_row(env, attacker_id)
    assert row["email"] is None and row["released_at"] is not None


async def test_code_login_and_code_reset_for_a_claimed_contact_answer_as_for_an_unknown_one(env):
    claimed, nobody = random_email(), random_email()
    await claim(env, email=claimed)
    replies = []
    for address in (claimed, nobody):
        login = await env.call(
            v1.login, {"email": address, "code": await env.code(address, "login")}
        )
        reset = await env.call(
            v1.reset_password,
            {
                "email": address,
                "code": await env.code(address, "reset_password"),
                "new_password": VICTIM_PASSWORD,
            },
        )
        replies.append((login, reset))
    assert error_code(replies[0][0]) == "invalid_credentials"
    assert error_code(replies[0][1]) == "not_found"
    assert replies[0] == replies[1]  # word for word
    # The reset by code changed nothing: the claimant's password still works.
    assert (await env.call(v1.login, {"email": claimed, "password": ATTACKER_PASSWORD}))["ok"]


async def test_a_second_unverified_contact_at_registration_leads_nowhere_and_is_taken_over(env):
    attacker_email, victim_phone = random_email(), valid_phone()
    code = await env.code(attacker_email, "register")
    body = {"email": attacker_email, "phone": victim_phone, "code": code, "login": True}
    attacker = await env.call(v1.register, {**body, "password": ATTACKER_PASSWORD})
    assert attacker["ok"], attacker
    attacker_id = attacker["result"]["user"]["id"]
    assert attacker["result"]["user"]["phone_verified"] is False

    code = await env.code(victim_phone, "login")
    assert error_code(await env.call(v1.login, {"phone": victim_phone, "code": code})) == (
        "invalid_credentials"
    )
    code = await env.code(victim_phone, "register")
    victim = await env.call(v1.register, {"phone": victim_phone, "code": code, "login": True})
    assert victim["ok"], victim
    assert victim["result"]["user"]["phone_verified"]
    # The attacker keeps what it proved, and only that.
    row = await user_row(env, attacker_id)
    assert row["phone"] is None and row["email"] == attacker_email and row["email_verified"]
    assert row["released_at"] is None
    back = await env.call(v1.login, {"email": attacker_email, "password": ATTACKER_PASSWORD})
    assert back["ok"] and back["result"]["user"]["id"] == attacker_id


async def test_binding_a_claimed_contact_takes_it_and_the_claimant_keeps_its_username(env):
    victim_email, name = random_email(), random_username()
    claimant = await claim(env, email=victim_email, username=name)
    owner = await env.register()
    code = await env.code(victim_email, "bind")
    bound = await env.call(
        v1.bind_contact, {"token": owner["session"]["token"], "email": victim_email, "code": code}
    )
    assert bound["ok"], bound
    assert bound["result"]["user"]["email"] == victim_email
    assert bound["result"]["user"]["email_verified"]
    row = await user_row(env, claimant["user"]["id"])
    assert row["email"] is None and row["username"] == name and row["released_at"] is None
    back = await env.call(v1.login, {"username": name, "password": ATTACKER_PASSWORD})
    assert back["ok"] and back["result"]["user"]["id"] == claimant["user"]["id"]


async def test_confirming_a_claimed_contact_takes_it(env):
    victim_phone = valid_phone()
    claimant = await claim(env, phone=victim_phone, username=random_username())
    owner = await env.register()
    token = owner["session"]["token"]
    start = {"token": token, "type": "phone", "contact": victim_phone, "channel": "inbox-sms"}
    started = await env.call(v1.start_contact_verification, start)
    assert started["ok"], started  # not contact_taken: a claim blocks nobody
    code = await env.inbox.code(victim_phone)
    confirmed = await env.call(v1.confirm_contact, {"token": token, "code": code})
    assert confirmed["ok"], confirmed
    assert confirmed["result"]["user"]["phone"] == victim_phone
    assert (await user_row(env, claimant["user"]["id"]))["phone"] is None


async def test_two_proofs_at_once_one_wins_and_the_claim_is_released_once(env):
    victim = random_email()
    claimant = await claim(env, email=victim)
    other = await env.register()
    register_code = await env.code(victim, "register")
    bind_code = await env.code(victim, "bind")
    async with tap(env.settings, env.settings.topology.events, "user.contact_unbound.v1") as t:
        registered, bound = await asyncio.gather(
            env.call(v1.register, {"email": victim, "code": register_code, "password": PASSWORD}),
            env.call(
                v1.bind_contact,
                {"token": other["session"]["token"], "email": victim, "code": bind_code},
            ),
        )
        await t.event("user.contact_unbound.v1", claimant["user"]["id"])
        await asyncio.sleep(0.5)  # time for a second event, if there were one
        released = [b for b in t.bodies() if b["subject"] == claimant["user"]["id"]]
    outcomes = sorted([error_code(registered) or "ok", error_code(bound) or "ok"])
    assert outcomes in (["contact_taken", "ok"], ["email_taken", "ok"]), (registered, bound)
    holders = await env.identity.pool.fetch(
        "SELECT public_id, email_verified FROM users WHERE email = $1", victim
    )
    assert len(holders) == 1 and holders[0]["email_verified"]
    assert len(released) == 1


async def test_a_claim_that_commits_while_a_proof_writes_is_taken_over_too(env):
    # The race the database settles: the proof's first look finds no claim (not yet
    # committed), its insert then waits on the claim's unique index entry and fails once the
    # claim commits; the proof looks again, takes the address, and writes.
    from services.identity import claims, usernames  # here: the rest of the module runs without it

    identity = IdentityService(env.identity)
    victim, pool = random_email(), env.identity.pool
    async with pool.acquire() as claimant_con, pool.acquire() as prover_con:
        claim_tx = claimant_con.transaction()
        await claim_tx.start()
        try:
            claimant = await store.users.insert_user(
                claimant_con,
                new_public_id("u"),
                usernames.parse(random_username(), 1, 255),
                victim,
                None,
                False,
                False,
                {},
            )
            async with prover_con.transaction():
                insert = partial(
                    store.users.insert_user,
                    prover_con,
                    new_public_id("u"),
                    None,
                    victim,
                    None,
                    True,
                    False,
                    {},
                )
                ident = Identifier(IdKind.email, victim)
                prove = claims.prove(identity, prover_con, ident, None, insert)
                proving = asyncio.create_task(prove)
                await asyncio.sleep(0.3)
                assert not proving.done()  # waiting on the claim's index entry
                await claim_tx.commit()
                prover = await asyncio.wait_for(proving, 10)
        finally:
            if claimant_con.is_in_transaction():
                await claim_tx.rollback()
    assert prover.email == victim and prover.email_verified
    row = await user_row(env, claimant.public_id)
    assert row["email"] is None and row["username"] is not None
