"""Notifier service: `faststream run services.notifier.app:app`.

Email through SMTP, SMS through a Twilio-compatible API; in dev mode without either, both
become files in `GATEHOUSE_OUTBOX_DIR`. In prod mode a channel without its provider stops
start-up, because a notifier that silently drops codes is worse than one that does not start.
"""

import logging
from pathlib import Path

from services.notifier import handlers, store
from services.notifier.dispatch import Dispatcher, Mailer, Texter
from services.notifier.domain import RetryPolicy
from services.notifier.email import SmtpConfig, SmtpMailer
from services.notifier.outbox_dir import DevMailer, DevOutbox, DevSms
from services.notifier.sms import SmsProvider, TwilioSms
from services.notifier.templates import Templates
from services.runtime.service import Service, lazy_app
from services.runtime.settings import Settings

NAME = "notifier"
MIGRATIONS = Path(__file__).parent / "migrations"

log = logging.getLogger("gatehouse.notifier")

_SMS_SETTINGS = {
    "sms_url": "GATEHOUSE_SMS_URL",
    "sms_account_sid": "GATEHOUSE_SMS_ACCOUNT_SID",
    "sms_auth_token": "GATEHOUSE_SMS_AUTH_TOKEN",
    "sms_from": "GATEHOUSE_SMS_FROM",
}


class NotifierConfigError(RuntimeError):
    """Provider settings missing or malformed; the message names the settings."""


def _check_config(settings: Settings) -> tuple[bool, bool]:
    """(email uses the dev outbox, sms uses the dev outbox); raises when start-up must fail."""
    problems: list[str] = []
    dev_email = dev_sms = False
    if "email" in settings.notify_channels:
        if settings.smtp_url is None:
            dev_email = settings.is_dev
            if not dev_email:
                problems.append("email needs GATEHOUSE_SMTP_URL")
        else:
            try:
                SmtpConfig.from_url(settings.smtp_url.get_secret_value())
            except ValueError as exc:
                problems.append(str(exc))
    if "sms" in settings.notify_channels:
        missing = [env for field, env in _SMS_SETTINGS.items() if getattr(settings, field) is None]
        if len(missing) == len(_SMS_SETTINGS) and settings.is_dev:
            dev_sms = True
        elif missing:
            problems.append(f"sms needs {', '.join(missing)}")
    if problems:
        raise NotifierConfigError(
            f"notifier cannot start in {settings.mode.value} mode: {'; '.join(problems)} "
            "(or leave the channel out of GATEHOUSE_NOTIFY_CHANNELS)"
        )
    return dev_email, dev_sms


class Providers:
    """Created when the service starts and closed when it stops (the SMS HTTP client)."""

    def __init__(self, settings: Settings, dev_email: bool, dev_sms: bool) -> None:
        self.settings = settings
        self.dev_email = dev_email
        self.dev_sms = dev_sms
        self.mailer: Mailer | None = None
        self.texter: SmsProvider | None = None

    def __call__(self) -> tuple[Mailer | None, Texter | None]:
        return self.mailer, self.texter

    async def start(self) -> None:
        s = self.settings
        outbox = DevOutbox(s.outbox_dir, s.mail_from)
        if "email" in s.notify_channels:
            if self.dev_email:
                self.mailer = DevMailer(outbox)
            else:
                assert s.smtp_url is not None
                config = SmtpConfig.from_url(s.smtp_url.get_secret_value())
                self.mailer = SmtpMailer(config, s.mail_from, s.smtp_timeout_s)
        if "sms" in s.notify_channels:
            if self.dev_sms:
                self.texter = DevSms(outbox)
            else:
                assert s.sms_url and s.sms_account_sid and s.sms_auth_token and s.sms_from
                self.texter = TwilioSms(
                    s.sms_url,
                    s.sms_account_sid,
                    s.sms_auth_token.get_secret_value(),
                    s.sms_from,
                    s.sms_timeout_s,
                )
        if self.dev_email or self.dev_sms:
            log.warning("dev mode: messages are written to %s, not sent", s.outbox_dir)

    async def stop(self) -> None:
        if self.texter is not None:
            await self.texter.close()
            self.texter = None
        self.mailer = None


def build(settings: Settings) -> Service:
    dev_email, dev_sms = _check_config(settings)
    service = Service(NAME, settings, MIGRATIONS)
    providers = Providers(settings, dev_email, dev_sms)
    policy = RetryPolicy(
        max_attempts=settings.notify_max_attempts,
        base_ms=settings.notify_retry_base_ms,
        max_ms=settings.notify_retry_max_ms,
    )
    dispatcher = Dispatcher(service, Templates(settings.template_dir), policy, providers)
    handlers.register(service, dispatcher, list(settings.notify_channels))
    service.on_start(providers.start)
    service.on_stop(providers.stop)
    service.relay_events()
    service.retain(
        "messages",
        store.purge_old,
        "a message is kept a week after its last change to recognise a late duplicate",
    )
    return service


# `faststream run services.notifier.app:app` builds the app on first access, so that importing
# this module (tests, `gatehouse up`) reads no settings and connects nothing.
__getattr__ = lazy_app(build)
