"""Templates without a broker: every built-in renders, fallback, overrides, the sandbox."""

import os
from datetime import UTC, datetime, timedelta

import pytest

from contracts.verification.v1 import Scenario
from services.notifier.domain import PermanentFailure, code_context
from services.notifier.templates import RESET_TOKEN_VARIABLE, Templates, locale_candidates

NOW = datetime(2026, 1, 1, tzinfo=UTC)
BUILT_IN_LOCALES = ("en", "fr")


def context(scenario: str = "login", code: str = "042917") -> dict:
    return code_context(
        code=code,
        scenario=scenario,
        expires_at=NOW + timedelta(minutes=10),
        now=NOW,
        to="ada@example.com",
        locale="en",
    )


@pytest.mark.parametrize("locale", BUILT_IN_LOCALES)
@pytest.mark.parametrize("scenario", [s.value for s in Scenario])
def test_every_scenario_has_email_and_sms_templates_with_the_code(scenario, locale):
    templates = Templates()
    mail = templates.render(scenario, locale, "email", context(scenario))
    assert mail.locale == locale
    assert mail.subject and "\n" not in mail.subject
    assert mail.text is not None and mail.html is not None
    assert "042917" in mail.text and "042917" in mail.html
    assert "10 minutes" in mail.text
    sms = templates.render(scenario, locale, "sms", context(scenario))
    assert sms.sms is not None
    assert "042917" in sms.sms and len(sms.sms) <= 160


@pytest.mark.parametrize("locale", BUILT_IN_LOCALES)
def test_the_reset_token_template_fills_the_legacy_placeholder(locale):
    data = {"password_reset_token": "tok<&>"}
    mail = Templates().render("send_password_token", locale, "email", data)
    assert mail.text is not None and mail.html is not None
    assert "tok<&>" in mail.text
    assert "tok&lt;&amp;&gt;" in mail.html  # a value, so escaped like any other
    assert "%PASSWORD_RESET_TOKEN%" not in mail.text + mail.html


def test_locales_fall_back_to_the_language_then_english():
    assert locale_candidates("pt-BR") == ["pt-BR", "pt", "en"]
    assert locale_candidates("fr") == ["fr", "en"]
    assert locale_candidates("en") == ["en"]
    assert locale_candidates("../../etc") == ["en"]
    templates = Templates()
    assert templates.render("login", "de", "email", context()).locale == "en"
    assert templates.render("login", "fr-CA", "email", context()).locale == "fr"


def test_an_unknown_template_is_a_permanent_failure():
    with pytest.raises(PermanentFailure, match="'nope' does not exist"):
        Templates().render("nope", "en", "email", {})
    assert Templates().resolve("nope", "en", "email") is None


def write(directory, files: dict[str, str]) -> None:
    for name, source in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(source)


def test_an_operator_directory_overrides_by_name_and_adds_templates(tmp_path):
    write(
        tmp_path,
        {
            "en/login.subject.j2": "ACME: your code",
            "fr/welcome.subject.j2": "Bienvenue",
            "fr/welcome.txt.j2": "Bonjour {{ name }}",
        },
    )
    templates = Templates(tmp_path)
    assert templates.render("login", "en", "email", context()).subject == "ACME: your code"
    assert templates.render("login", "fr", "email", context()).subject != "ACME: your code"
    welcome = templates.render("welcome", "fr", "email", {"name": "Ada"})
    assert (welcome.subject, welcome.text, welcome.html) == ("Bienvenue", "Bonjour Ada", None)
    # No `en` version: the template exists only where the operator put it.
    assert templates.resolve("welcome", "en", "email") is None


def test_sms_falls_back_to_the_text_part(tmp_path):
    write(tmp_path, {"en/note.txt.j2": "  Hello {{ name }}  \n"})
    assert Templates(tmp_path).render("note", "en", "sms", {"name": "Ada"}).sms == "Hello Ada"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{% if %}", "(en/bad.txt.j2, line 1) is invalid"),
        ("{{ name }}", "UndefinedError: 'name' is undefined"),
        ("{{ 1 / 0 }}", "failed to render: ZeroDivisionError"),
        ("{{ ''.__class__.__mro__ }}", "SecurityError"),
        ("{{ cycler.__init__.__globals__ }}", "failed to render"),
        ("{% set x = data.update({'a': 1}) %}{{ x }}", "SecurityError"),
    ],
)
def test_a_template_that_does_not_render_is_a_permanent_failure_with_a_reason(
    tmp_path, source, reason
):
    write(tmp_path, {"en/bad.subject.j2": "Bad", "en/bad.txt.j2": source})
    with pytest.raises(PermanentFailure) as caught:
        Templates(tmp_path).render("bad", "en", "email", {"data": {}})
    assert caught.value.permanent
    assert reason in caught.value.reason
    assert caught.value.reason.startswith("template 'bad'")


def test_an_email_template_without_a_subject_fails_clearly(tmp_path):
    write(tmp_path, {"en/bare.txt.j2": "Hello"})
    with pytest.raises(PermanentFailure, match="has no subject"):
        Templates(tmp_path).render("bare", "en", "email", {})


def test_the_built_in_reset_template_shows_the_token_in_every_locale():
    shows = Templates(must_show={"send_password_token": RESET_TOKEN_VARIABLE})
    assert shows.missing() == []


def test_a_reset_template_edited_after_start_up_to_drop_the_token_is_not_sent(tmp_path):
    # Checked at start-up, then edited (templates reload): the render fails, naming the
    # part, rather than a mail going out without its token.
    text = tmp_path / "en/send_password_token.txt.j2"
    text.parent.mkdir()

    def rewrite(source: str, age_s: int) -> None:
        text.write_text(source)
        os.utime(text, (NOW.timestamp() + age_s, NOW.timestamp() + age_s))  # reload noticed

    rewrite("Token: %PASSWORD_RESET_TOKEN%", 0)
    templates = Templates(tmp_path, must_show={"send_password_token": RESET_TOKEN_VARIABLE})
    assert templates.missing() == []
    data = {RESET_TOKEN_VARIABLE: "tok-123"}
    assert "tok-123" in (templates.render("send_password_token", "en", "email", data).text or "")
    rewrite("Ask support for a token.", 10)
    with pytest.raises(PermanentFailure, match=r"en/send_password_token\.txt\.j2"):
        templates.render("send_password_token", "en", "email", data)
    # A token only in a dead branch is not shown either.
    rewrite("{% if false %}{{ password_reset_token }}{% endif %}Ask support.", 20)
    with pytest.raises(PermanentFailure, match="does not show password_reset_token"):
        templates.render("send_password_token", "en", "email", data)
