"""Notifier rules without I/O: classification, backoff, Retry-After, scrubbing."""

from datetime import UTC, datetime, timedelta

import pytest

from services.notifier import domain
from services.notifier.domain import (
    GiveUp,
    Job,
    PermanentFailure,
    Retry,
    RetryPolicy,
    TransientFailure,
)
from services.notifier.email import SmtpConfig, build_mail, message_id_header
from services.notifier.templates import Rendered

POLICY = RetryPolicy(max_attempts=5, base_ms=1000, max_ms=10_000)


@pytest.mark.parametrize(
    ("code", "transient"), [(421, True), (450, True), (451, True), (550, False), (554, False)]
)
def test_smtp_4xx_is_transient_and_5xx_permanent(code, transient):
    failure = domain.smtp_failure(code, "x")
    assert isinstance(failure, TransientFailure) is transient
    assert failure.permanent is not transient


@pytest.mark.parametrize(
    ("status", "transient"),
    [(429, True), (500, True), (502, True), (503, True), (400, False), (401, False), (404, False)],
)
def test_http_429_and_5xx_are_transient_other_4xx_permanent(status, transient):
    assert isinstance(domain.http_failure(status), TransientFailure) is transient


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert domain.parse_retry_after("7") == 7000
    assert domain.parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30_000
    assert domain.parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0
    assert domain.parse_retry_after("soon") is None
    assert domain.parse_retry_after(None) is None


def test_backoff_doubles_from_the_base_and_stops_at_the_cap():
    assert [POLICY.backoff_ms(n) for n in range(1, 7)] == [1000, 2000, 4000, 8000, 10_000, 10_000]


def test_a_transient_failure_is_retried_until_the_last_attempt():
    failure = TransientFailure("smtp 421: busy")
    assert domain.next_step(POLICY, 1, failure) == Retry(delay_ms=1000, next_attempt=2)
    assert domain.next_step(POLICY, 4, failure) == Retry(delay_ms=8000, next_attempt=5)
    step = domain.next_step(POLICY, 5, failure)
    assert isinstance(step, GiveUp) and not step.permanent
    assert step.reason == "gave up after 5 attempts: smtp 421: busy"


def test_a_permanent_failure_is_given_up_at_once():
    assert domain.next_step(POLICY, 1, PermanentFailure("smtp 550: no")) == GiveUp(
        "smtp 550: no", permanent=True
    )


def delay_ms(attempt: int, failure: TransientFailure) -> int:
    step = domain.next_step(POLICY, attempt, failure)
    assert isinstance(step, domain.Retry)
    return step.delay_ms


def test_retry_after_wins_over_a_shorter_backoff_but_not_over_the_cap():
    asked = TransientFailure("http 429", retry_after_ms=2500)
    assert delay_ms(1, asked) == 3000  # whole seconds, rounded up
    assert delay_ms(4, asked) == 8000  # the backoff is longer
    huge = TransientFailure("http 429", retry_after_ms=3_600_000)
    assert delay_ms(1, huge) == 10_000


def test_the_attempt_header_is_read_defensively():
    assert domain.attempt_of(None, 5) == 1
    assert domain.attempt_of("3", 5) == 3
    assert domain.attempt_of(b"x", 5) == 1
    assert domain.attempt_of(-2, 5) == 1
    assert domain.attempt_of(99, 5) == 5


def test_the_dedupe_id_is_the_message_id_or_a_digest_of_the_body():
    assert domain.stable_message_id("abc", b"{}") == "abc"
    assert domain.stable_message_id(None, b"{}") == domain.stable_message_id("", b"{}")
    assert domain.stable_message_id(None, b"{}") != domain.stable_message_id(None, b"[]")
    assert len(domain.stable_message_id("x" * 1000, b"")) < 100


def test_expiry_in_minutes_rounds_up():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    context = domain.code_context(
        code="123456",
        scenario="login",
        expires_at=now + timedelta(minutes=9, seconds=30),
        now=now,
        to="a@example.com",
        locale="en",
    )
    assert context["expires_in_minutes"] == 10


def _job(**kw) -> Job:
    values = {
        "message_id": "m1",
        "channel": "email",
        "to": "ada@example.com",
        "template": "login",
        "locale": "en",
        "data": {},
        "secrets": ("123456",),
    }
    return Job(**{**values, **kw})


def test_a_job_scrubs_its_secrets_and_masks_its_recipient():
    job = _job()
    assert job.scrub("no attribute '123456'") == "no attribute '***'"
    assert job.masked_to == "a***@example.com"
    assert job.recipient_key == domain.recipient_key("ada@example.com")


def test_every_string_of_send_data_counts_as_a_secret():
    assert domain.secrets_of({"t": "abcdef", "n": 123456, "short": "ab", "b": True}) == (
        "abcdef",
        "123456",
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", ("mail.example.com", 25, None, None, False, False)),
        (
            "smtp://u%40x:p%3Ass@mail:2525?starttls=true",
            ("mail", 2525, "u@x", "p:ss", False, True),
        ),
        ("smtp://mail?starttls=true", ("mail", 587, None, None, False, True)),
        ("smtps://u:p@mail", ("mail", 465, "u", "p", True, False)),
    ],
)
def test_smtp_urls_are_parsed(url, expected):
    c = SmtpConfig.from_url(url)
    assert (c.host, c.port, c.username, c.password, c.implicit_tls, c.starttls) == expected


def test_a_mail_is_multipart_text_and_html_with_a_message_id_from_the_message_id():
    rendered = Rendered("en", subject="Hi", text="code 123456", html="<b>123456</b>")
    mail = build_mail(_job(message_id="abc123"), rendered, "Gatehouse <no-reply@acme.test>")
    assert mail.get_content_type() == "multipart/alternative"
    assert mail["Message-ID"] == "<abc123@acme.test>"
    plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content().strip() == "code 123456"
    assert html.get_content().strip() == "<b>123456</b>"
    assert message_id_header("a b<c>", "x@y.test").endswith("@y.test>")
    assert " " not in message_id_header("a b<c>", "x@y.test")
