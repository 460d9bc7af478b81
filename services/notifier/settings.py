"""The notifier's settings: providers, templates, retries, what callers may send and which
security notices go out, on top of what every service reads
(`services.runtime.settings.Settings`)."""

import logging
import os
from typing import get_args

from pydantic import AliasChoices, Field, SecretStr, model_validator

from gatehouse._recipients import Channel
from services.notifier.notices import SecurityNotice
from services.runtime.settings import Settings

log = logging.getLogger("gatehouse.settings")

# Old environment names still read, each with the one that replaced it.
DEPRECATED_ENV = {"GATEHOUSE_OUTBOX_DIR": "GATEHOUSE_DEV_MAILBOX_DIR"}


class NotifierSettings(Settings):
    # channels and providers ----------------------------------------------------------------
    notify_channels: list[Channel] = Field(
        default_factory=lambda: list(get_args(Channel)),
        description="Built-in channels the notifier serves (JSON list); each needs its provider "
        "in prod. A channel left out has no queue, so `send_code` to it answers "
        "`delivery_unavailable`.",
    )
    smtp_url: SecretStr | None = Field(
        None,
        description="`smtp://user:pass@host:port` (port 25 by default); `smtps://` for implicit "
        "TLS (465), `?starttls=true` for STARTTLS (587). Percent-encode `@` and `:` in the "
        "user name and password.",
    )
    mail_from: str = Field(
        "Gatehouse <no-reply@localhost>",
        description="The `From` header of outgoing mail; its domain also names the `Message-ID`.",
    )
    smtp_timeout_s: float = Field(30.0, description="SMTP connect and command timeout, in seconds.")
    sms_url: str | None = Field(
        None, description="Base URL of a Twilio-compatible SMS API, e.g. `https://api.twilio.com`."
    )
    sms_account_sid: str | None = Field(
        None, description="Account SID: part of the API path and the basic-auth user."
    )
    sms_auth_token: SecretStr | None = Field(
        None, description="The SMS API's basic-auth password (a secret: the notifier's only)."
    )
    sms_from: str | None = Field(None, description="Sender number (E.164) or sender id.")
    sms_timeout_s: float = Field(15.0, description="HTTP timeout of the SMS API, in seconds.")
    template_dir: str | None = Field(
        None,
        description="An operator template directory: its `<locale>/<name>.<part>.j2` files "
        "override the built-in files with the same path.",
    )
    dev_mailbox_dir: str = Field(
        "var/mailbox",
        # GATEHOUSE_OUTBOX_DIR is its old name, read (with a warning) so deployments keep
        # working; the transactional outbox (services.runtime.outbox) is another thing.
        validation_alias=AliasChoices("GATEHOUSE_DEV_MAILBOX_DIR", "GATEHOUSE_OUTBOX_DIR"),
        description="Dev mode: the directory emails and SMS are written to instead of sent.",
    )

    # retries -------------------------------------------------------------------------------
    notify_max_attempts: int = Field(
        5, ge=1, le=50, description="Attempts per message, the first one included."
    )
    notify_retry_base_ms: int = Field(
        1000, ge=1, description="The first retry delay; each later delay doubles."
    )
    notify_retry_max_ms: int = Field(
        300_000,
        ge=1,
        description="The longest retry delay, including one a provider asks for with "
        "`Retry-After`.",
    )

    # security notices ----------------------------------------------------------------------
    security_notices: list[SecurityNotice] = Field(
        default_factory=lambda: list(get_args(SecurityNotice)),
        description="Which changes the account's owner is told about (JSON list); all by "
        "default. A kind left out is still consumed, and dropped.",
    )

    # what callers may send through notifier.send.v1 (issue 21) -----------------------------
    notify_caller_templates: list[str] = Field(
        default_factory=list,
        description="Templates callers may send (JSON list); none by default. Never one that "
        "carries a code, a reset token or a security notice: start-up refuses those.",
    )
    notify_caller_emails_per_hour: int = Field(
        100,
        ge=0,
        description="Emails one caller (AMQP `user_id`) may send through `notifier.send.v1` per "
        "clock hour; `0`: none.",
    )
    notify_caller_sms_per_hour: int = Field(
        10, ge=0, description="SMS one caller may send per clock hour, counted apart from email."
    )
    notify_emails_per_hour: int = Field(
        1000, ge=0, description="Emails all callers together may send per clock hour."
    )
    notify_sms_per_hour: int = Field(
        100, ge=0, description="SMS all callers together may send per clock hour."
    )

    @model_validator(mode="after")
    def _warn_deprecated_names(self) -> "NotifierSettings":
        for old, new in DEPRECATED_ENV.items():
            if old in os.environ:
                log.warning("%s is deprecated and will be removed: set %s instead", old, new)
        return self
