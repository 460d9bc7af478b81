"""What a caller may send through `notifier.send.v1` (issue 21, point 5).

Before, any caller could mail the official `send_password_token`, `two_factor` or code
templates with data of its choosing to any address or number (phishing in Gatehouse's name,
SMS pumping), with no budget.
"""

import asyncio

import pytest

from contracts.notifier import v1 as notifier
from gatehouse.rpc import RpcClient, amqp_user
from services.notifier.app import build
from services.notifier.policy import RESERVED
from services.notifier.providers import NotifierConfigError
from services.notifier.templates import BUILT_IN
from tests.notifier_support import notifier_env
from tests.support import call, error_code, random_email, random_phone

WELCOME = {
    "en/welcome.subject.j2": "Welcome, {{ name }}",
    "en/welcome.txt.j2": "Hello {{ name }}!",
    "en/welcome.sms.j2": "Hello {{ name }}!",
}
CALLER_EMAILS, ALL_EMAILS, CALLER_SMS = 5, 8, 2


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    directory = tmp_path_factory.mktemp("templates")
    for name, source in WELCOME.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(source)
    return str(directory)


@pytest.fixture
async def env(make_settings, templates):
    # A namespace per test: each starts with whole budgets.
    async with notifier_env(
        make_settings,
        template_dir=templates,
        notify_caller_templates=["welcome"],
        notify_caller_emails_per_hour=CALLER_EMAILS,
        notify_emails_per_hour=ALL_EMAILS,
        notify_caller_sms_per_hour=CALLER_SMS,
    ) as env:
        yield env


def welcome(to: str, channel: str = "email") -> dict:
    return {"channel": channel, "to": to, "template": "welcome", "data": {"name": "Ada"}}


@pytest.mark.parametrize(
    ("template", "data"),
    [
        ("send_password_token", {"password_reset_token": "attacker-chosen"}),
        ("two_factor", {"code": "123456"}),
        ("login", {"code": "123456"}),
        ("security_password_changed", {}),
    ],
)
async def test_a_caller_cannot_send_a_template_that_carries_a_secret_or_a_notice(
    env, template, data
):
    victim = random_email()
    body = {"channel": "email", "to": victim, "template": template, "data": data}
    reply = await call(env.rpc, notifier.send, body)
    assert error_code(reply) == "forbidden", reply
    assert reply["error"]["details"]["template"] == template
    # The internal command is not on the exchange callers publish to.
    direct = await call(env.rpc, notifier.send_security.routing_key, body)
    assert error_code(direct) == "unknown_command"
    assert victim not in env.sink.attempts


def test_every_built_in_template_is_reserved():
    # Each carries a code, the reset token or a security notice; a new one must be reserved
    # or this test says why not.
    built_in = {path.name.split(".")[0] for path in BUILT_IN.glob("*/*.j2")}
    assert built_in and built_in <= RESERVED


async def test_an_allowed_template_goes(env):
    email = random_email()
    reply = await call(env.rpc, notifier.send, welcome(email))
    assert reply["ok"], reply
    mail = await env.sink.mail(email)
    assert mail["Subject"] == "Welcome, Ada"


async def test_budgets_run_out_under_concurrent_callers_exactly_at_the_cap(env):
    url = env.amqp
    # Two callers: one whose messages carry its AMQP user_id, one whose carry none.
    async with (
        RpcClient(url, env.settings.topology, timeout_s=20, user_id=amqp_user(url)) as a,
        RpcClient(url, env.settings.topology, timeout_s=20) as b,
    ):
        first = await asyncio.gather(
            *(call(a, notifier.send, welcome(random_email())) for _ in range(12))
        )
        assert sum(r["ok"] for r in first) == CALLER_EMAILS
        second = await asyncio.gather(
            *(call(b, notifier.send, welcome(random_email())) for _ in range(12))
        )
        # `b` has a budget of its own, but all callers together stop at ALL_EMAILS.
        assert sum(r["ok"] for r in second) == ALL_EMAILS - CALLER_EMAILS
        refused = [r for r in first + second if not r["ok"]]
        assert {error_code(r) for r in refused} == {"rate_limited"}
        assert all(1 <= r["error"]["details"]["retry_after_s"] <= 3600 for r in refused)
        # SMS are counted apart: the email budgets being spent leaves them whole.
        texts = await asyncio.gather(
            *(call(a, notifier.send, welcome(random_phone(), "sms")) for _ in range(4))
        )
        assert sum(r["ok"] for r in texts) == CALLER_SMS


async def test_start_up_refuses_a_caller_list_naming_a_reserved_template(make_settings):
    for template in ("send_password_token", "two_factor", "verify_contact"):
        settings = make_settings(notify_caller_templates=["welcome", template])
        with pytest.raises(NotifierConfigError, match=template):
            build(settings)
