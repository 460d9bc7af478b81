"""Operator templates on a running notifier: overrides, broken ones, and the sandbox."""

import pytest

from contracts.notifier import v1 as notifier
from services.notifier.app import build
from services.notifier.providers import NotifierConfigError
from tests.notifier_support import code_delivery, notifier_env, parts
from tests.support import call, random_email

OPERATOR_TEMPLATES = {
    "en/login.subject.j2": "ACME sign-in code",
    "en/welcome.subject.j2": "Welcome, {{ name }}",
    "en/welcome.txt.j2": "Hello {{ name }}!",
    "en/welcome.html.j2": "<p>Hello {{ name }}!</p>",
    "en/broken.subject.j2": "Broken",
    "en/broken.txt.j2": "{% if %}never{% endif %}",
    "en/needs_more.subject.j2": "Needs more",
    "en/needs_more.txt.j2": "Hello {{ name }}",
    "en/leaky.subject.j2": "Leaky",
    "en/leaky.txt.j2": "{{ links[token] }}",
    "en/sneaky.subject.j2": "Sneaky",
    "en/sneaky.txt.j2": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
}


@pytest.fixture(scope="module")
async def env(make_settings, tmp_path_factory):
    directory = tmp_path_factory.mktemp("templates")
    for name, source in OPERATOR_TEMPLATES.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(source)
    # The operator's own templates, which callers may send (never a built-in one: those carry
    # a code, a reset token or a security notice).
    callers = sorted({name.split("/")[1].split(".")[0] for name in OPERATOR_TEMPLATES} - {"login"})
    async with notifier_env(
        make_settings, template_dir=str(directory), notify_caller_templates=callers
    ) as env:
        yield env


async def send(env, template, to, **data):
    reply = await call(
        env.rpc, notifier.send, {"channel": "email", "to": to, "template": template, "data": data}
    )
    assert reply["ok"], reply
    return reply["result"]["message_id"]


async def test_an_operator_file_overrides_the_built_in_part_of_the_same_name(env):
    email = random_email()
    delivery = code_delivery(email)
    await env.deliver(delivery)
    mail = await env.sink.mail(email)
    assert mail["Subject"] == "ACME sign-in code"
    text, _ = parts(mail)
    assert delivery.code in text  # the body parts are still the built-in ones


async def test_an_operator_template_is_served_and_its_html_is_escaped(env):
    email = random_email()
    await send(env, "welcome", email, name="<b>Ada</b>")
    text, html = parts(await env.sink.mail(email))
    assert text.strip() == "Hello <b>Ada</b>!"
    assert "Hello &lt;b&gt;Ada&lt;/b&gt;!" in html


async def test_a_template_with_a_syntax_error_is_a_clear_permanent_failure(env):
    email = random_email()
    message_id = await send(env, "broken", email)
    event = await env.tap.outcome(message_id)
    assert event["type"] == "notification.failed.v1"
    assert event["data"]["permanent"] is True
    assert event["data"]["attempts"] == 1
    assert event["data"]["reason"].startswith("template 'broken' (en/broken.txt.j2, line 1)")
    await env.dead.wait_for(f"{env.queue('email')}.dlq", message_id)
    assert email not in env.sink.attempts


async def test_a_template_missing_a_variable_fails_naming_the_variable(env):
    message_id = await send(env, "needs_more", random_email())
    event = await env.tap.outcome(message_id)
    assert event["type"] == "notification.failed.v1"
    assert "'name' is undefined" in event["data"]["reason"]


async def test_the_sandbox_blocks_attribute_access_to_internals(env):
    email = random_email()
    message_id = await send(env, "sneaky", email)
    event = await env.tap.outcome(message_id)
    assert event["type"] == "notification.failed.v1"
    assert event["data"]["permanent"] is True
    assert "unsafe" in event["data"]["reason"]
    await env.settled("email")
    assert email not in env.sink.attempts


async def test_a_failure_reason_never_echoes_the_data_it_was_given(env):
    # The undefined attribute's name would be the secret itself without scrubbing.
    message_id = await send(env, "leaky", random_email(), token="s3cret-value", links={})
    event = await env.tap.outcome(message_id)
    assert event["type"] == "notification.failed.v1"
    assert "has no attribute '***'" in event["data"]["reason"]
    assert "s3cret-value" not in str(event)


def test_start_up_refuses_a_reset_template_that_would_mail_no_token(make_settings, tmp_path):
    # Seed 004: the reset mail's body must include %PASSWORD_RESET_TOKEN%. An operator's
    # override without it would mail every user who asks for a reset a token-less mail.
    for name, source in {
        "en/send_password_token.html.j2": "<p>Follow the link we sent you.</p>",
        "en/custom_reset.subject.j2": "Reset",
        "en/custom_reset.txt.j2": "Your token: %PASSWORD_RESET_TOKEN%",
        "fr/custom_reset.txt.j2": "Votre jeton : {{ token }}",
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(source)
    settings = make_settings(template_dir=str(tmp_path), reset_mail_templates=["custom_reset"])
    with pytest.raises(NotifierConfigError) as refused:
        build(settings)
    reason = str(refused.value)
    assert f"send_password_token: {tmp_path}/en/send_password_token.html.j2" in reason
    assert f"custom_reset: {tmp_path}/fr/custom_reset.txt.j2" in reason
    assert "en/custom_reset.txt.j2" not in reason  # the placeholder counts
    assert "send_password_token.txt.j2" not in reason  # the built-in text part shows it
    # A listed reset template the notifier does not have is refused too.
    with pytest.raises(NotifierConfigError, match="no_such_reset"):
        build(make_settings(reset_mail_templates=["no_such_reset"]))


def test_a_listed_reset_template_can_never_be_sent_by_callers(make_settings, tmp_path):
    # It carries a reset token: a caller sending it with a token or link of its own is phishing.
    (tmp_path / "en").mkdir()
    (tmp_path / "en/custom_reset.subject.j2").write_text("Reset")
    (tmp_path / "en/custom_reset.txt.j2").write_text("Token: {{ password_reset_token }}")
    settings = make_settings(
        template_dir=str(tmp_path),
        reset_mail_templates=["custom_reset"],
        notify_caller_templates=["custom_reset"],
    )
    with pytest.raises(NotifierConfigError, match=r"NOTIFY_CALLER_TEMPLATES.*custom_reset"):
        build(settings)
