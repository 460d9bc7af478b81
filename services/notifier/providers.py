"""Which provider sends each channel, checked before the notifier builds, opened and closed
with it.

Email goes through SMTP, SMS through a Twilio-compatible API; in dev mode without either,
both become files in the dev mailbox (`GATEHOUSE_DEV_MAILBOX_DIR`). In prod mode a channel
without its provider stops start-up, because a notifier that silently drops codes is worse
than one that does not start.
"""

import logging
from typing import Protocol

from services.notifier.dev_mailbox import DevMailbox, DevMailer, DevSms
from services.notifier.domain import Job
from services.notifier.email import SmtpConfig, SmtpMailer
from services.notifier.settings import NotifierSettings
from services.notifier.sms import SmsProvider, TwilioSms
from services.notifier.templates import Rendered

log = logging.getLogger("gatehouse.notifier")

_SMS_SETTINGS = {
    "sms_url": "GATEHOUSE_SMS_URL",
    "sms_account_sid": "GATEHOUSE_SMS_ACCOUNT_SID",
    "sms_auth_token": "GATEHOUSE_SMS_AUTH_TOKEN",
    "sms_from": "GATEHOUSE_SMS_FROM",
}


class Mailer(Protocol):
    async def send(self, job: Job, rendered: Rendered) -> None: ...


class NotifierConfigError(RuntimeError):
    """Provider settings missing or malformed; the message names the settings."""


def check(settings: NotifierSettings) -> tuple[bool, bool]:
    """(email goes to the dev mailbox, sms goes to the dev mailbox); raises when start-up
    must fail."""
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

    def __init__(self, settings: NotifierSettings) -> None:
        self.settings = settings
        self.dev_email, self.dev_sms = check(settings)
        self.mailer: Mailer | None = None
        self.texter: SmsProvider | None = None

    async def start(self) -> None:
        s = self.settings
        mailbox = DevMailbox(s.dev_mailbox_dir, s.mail_from)
        if "email" in s.notify_channels:
            if self.dev_email:
                self.mailer = DevMailer(mailbox)
            else:
                assert s.smtp_url is not None, "check() refused a prod email without it"
                config = SmtpConfig.from_url(s.smtp_url.get_secret_value())
                self.mailer = SmtpMailer(config, s.mail_from, s.smtp_timeout_s)
        if "sms" in s.notify_channels:
            if self.dev_sms:
                self.texter = DevSms(mailbox)
            else:
                assert s.sms_url and s.sms_account_sid and s.sms_auth_token and s.sms_from, (
                    "check() refused a prod sms without them"
                )
                self.texter = TwilioSms(
                    s.sms_url,
                    s.sms_account_sid,
                    s.sms_auth_token.get_secret_value(),
                    s.sms_from,
                    s.sms_timeout_s,
                )
        if self.dev_email or self.dev_sms:
            log.warning("dev mode: messages are written to %s, not sent", s.dev_mailbox_dir)

    async def stop(self) -> None:
        if self.texter is not None:
            await self.texter.close()
            self.texter = None
        self.mailer = None
