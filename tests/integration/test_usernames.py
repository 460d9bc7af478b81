"""Look-alike usernames: what an impersonator would register, and what the owner types."""

import asyncio
import uuid

import pytest

from contracts.identity import v1
from tests.identity_support import PASSWORD, env_settings, identity_env
from tests.support import error_code, error_fields

MAX_FAILURES = 4


@pytest.fixture(scope="module")
async def env(make_settings):
    settings = env_settings(make_settings, login_max_failures=MAX_FAILURES)
    async with identity_env(settings, with_verification=False) as env:
        yield env


def fullwidth(text: str) -> str:
    """ASCII letters and digits as their fullwidth forms (U+FF01 to U+FF5E)."""
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


def cyrillic_a(text: str) -> str:
    """The first Latin `a` replaced by CYRILLIC SMALL LETTER A (U+0430), drawn the same."""
    return text.replace("a", "\u0430", 1)


def base_name() -> str:
    # Letters only: random digits could themselves be look-alikes (0/O, 1/l) of other names.
    return "admin" + "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:10])


async def register(env, username, password=PASSWORD):
    return await env.call(v1.register, {"username": username, "password": password})


@pytest.mark.parametrize(
    "impostor",
    [
        pytest.param(fullwidth, id="fullwidth"),
        pytest.param(str.upper, id="upper-case"),
        pytest.param(str.capitalize, id="capitalised"),
        pytest.param(cyrillic_a, id="cyrillic-a"),
        pytest.param(lambda s: fullwidth(cyrillic_a(s).upper()), id="all-at-once"),
    ],
)
async def test_a_look_alike_of_an_existing_username_is_taken(env, impostor):
    name = base_name()
    assert (await register(env, name))["ok"]
    look_alike = impostor(name)
    assert look_alike != name
    for command in (v1.register, v1.validate_registration):
        reply = await env.call(command, {"username": look_alike, "password": PASSWORD})
        assert error_code(reply) == "username_taken", reply


async def test_case_is_folded_by_unicode_rules_not_the_database_locale(env):
    # lower() in the database leaves `ß` alone; case folding makes it `ss`, as `SS` is.
    name = base_name() + "stra\u00dfe"
    assert (await register(env, name))["ok"]
    assert error_code(await register(env, name.upper())) == "username_taken"
    reply = await env.call(v1.login, {"username": name.upper(), "password": PASSWORD})
    assert reply["ok"], reply


async def test_the_original_is_taken_when_the_look_alike_came_first(env):
    name = base_name()
    assert (await register(env, cyrillic_a(name)))["ok"]
    assert error_code(await register(env, name)) == "username_taken"


@pytest.mark.parametrize(
    "hidden",
    [
        pytest.param("\u200d", id="zero-width-joiner"),
        pytest.param("\u200b", id="zero-width-space"),
        pytest.param("\u202e", id="right-to-left-override"),
        pytest.param("\u2066", id="left-to-right-isolate"),
        pytest.param("\u00ad", id="soft-hyphen"),
        pytest.param("\u3164", id="hangul-filler"),
        pytest.param("\ufe0f", id="variation-selector"),
        pytest.param("\ue000", id="private-use"),
        pytest.param("\u0007", id="control"),
        pytest.param("\u2028", id="line-separator"),
        pytest.param("\u00a0", id="no-break-space"),
        pytest.param("\u3000", id="ideographic-space"),
    ],
)
async def test_invisible_control_and_bidi_characters_are_refused(env, hidden):
    name = base_name()
    spoof = name[:3] + hidden + name[3:]
    for command in (v1.register, v1.validate_registration):
        reply = await env.call(command, {"username": spoof, "password": PASSWORD})
        assert error_code(reply) == "invalid_params", reply
        assert error_fields(reply) == ["username"]
    # ...and the name itself is still free.
    assert (await register(env, name))["ok"]


async def test_of_concurrent_look_alike_registrations_exactly_one_wins(env):
    name = base_name()
    variants = [
        name,
        name.upper(),
        fullwidth(name),
        cyrillic_a(name),
        cyrillic_a(name).upper(),
        fullwidth(name.upper()),
        name.capitalize(),
        fullwidth(cyrillic_a(name)),
    ]
    for _ in range(3):  # and again, so the race is really run more than once
        name = base_name()
        variants += [name, fullwidth(name), cyrillic_a(name), name.upper()]
    groups = [variants[:8], variants[8:12], variants[12:16], variants[16:20]]
    for group in groups:
        replies = await asyncio.gather(*(register(env, v) for v in group))
        assert sum(r["ok"] for r in replies) == 1, replies
        assert {error_code(r) for r in replies if not r["ok"]} == {"username_taken"}


async def test_the_owner_signs_in_with_any_spelling_of_the_same_key(env):
    name = base_name()
    user = (await register(env, name))["result"]["user"]
    assert user["username"] == name
    for spelling in (name.upper(), fullwidth(name), fullwidth(name.upper()), name.capitalize()):
        reply = await env.call(v1.login, {"username": spelling, "password": PASSWORD})
        assert reply["ok"], (spelling, reply)
        assert reply["result"]["user"]["id"] == user["id"]
    # A look-alike is another name: it finds nobody.
    reply = await env.call(v1.login, {"username": cyrillic_a(name), "password": PASSWORD})
    assert error_code(reply) == "invalid_credentials"


async def test_a_fullwidth_registration_is_stored_in_its_normal_form(env):
    name = base_name()
    reply = await register(env, fullwidth(name.capitalize()))
    assert reply["ok"], reply
    assert reply["result"]["user"]["username"] == name.capitalize()


async def test_failed_sign_ins_count_once_whatever_the_spelling(env):
    """A guesser rotating spellings of one username gets no extra guesses: every spelling
    is one identifier to the throttle."""
    name = base_name()
    assert (await register(env, name))["ok"]
    spellings = [name.upper(), fullwidth(name), name.capitalize(), fullwidth(name.upper())]
    for spelling in spellings[:MAX_FAILURES]:
        reply = await env.call(v1.login, {"username": spelling, "password": "wrong-password-1"})
        assert error_code(reply) == "invalid_credentials", reply
    reply = await env.call(v1.login, {"username": fullwidth(name), "password": "wrong-password-2"})
    assert error_code(reply) in {"too_many_attempts", "rate_limited"}, reply
    assert reply["error"]["details"]["retry_after_s"] > 0
