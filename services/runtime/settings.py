"""Settings shared by every service, read from `GATEHOUSE_*` environment variables."""

import logging
import os
from enum import StrEnum
from functools import cached_property
from typing import Literal, get_args

from pydantic import AliasChoices, Field, SecretStr, model_validator

from contracts.identity.v1 import PASSWORD_MAX, USERNAME_MAX
from gatehouse._recipients import Channel
from gatehouse.settings import BrokerSettings
from services.runtime import keys

log = logging.getLogger("gatehouse.settings")


class Mode(StrEnum):
    dev = "dev"
    prod = "prod"


class MfaPolicy(StrEnum):
    off = "off"
    optional = "optional"
    required = "required"


# Old environment names still read, each with the one that replaced it.
DEPRECATED_ENV = {"GATEHOUSE_OUTBOX_DIR": "GATEHOUSE_DEV_MAILBOX_DIR"}

# User fields an operator may add to access tokens (GATEHOUSE_ACCESS_TOKEN_CLAIMS).
AccessTokenClaim = Literal[
    "username",
    "email",
    "email_verified",
    "phone",
    "phone_verified",
    "app_metadata",
    "user_metadata",
]


# The security notices the notifier sends an account's owner (GATEHOUSE_SECURITY_NOTICES),
# one per lifecycle event it consumes for them.
SecurityNotice = Literal[
    "password_changed",
    "password_reset",
    "contact_bound",
    "contact_unbound",
    "mfa_changed",
    "remember_token_reused",
]


class Settings(BrokerSettings):
    """Everything a Gatehouse service reads: the broker settings (`BrokerSettings`) and
    its own."""

    # connections (the broker's: BrokerSettings)
    database_url: SecretStr = SecretStr("postgresql://localhost/gatehouse")
    mode: Mode = Mode.prod
    # observability
    http_port: int = 8080
    log_level: str = "INFO"
    log_json: bool = False
    # messaging limits
    rpc_timeout_s: float = 10.0
    max_message_bytes: int = 640 * 1024
    idempotency_ttl_s: int = 24 * 3600
    db_pool_max: int = 10
    # verification codes
    code_hmac_key: SecretStr | None = None
    code_ttl_s: int = 600
    code_max_attempts: int = 5
    code_resend_cooldown_s: int = 60
    code_hourly_cap: int = Field(
        10,
        ge=1,
        description="Codes per recipient per hour in each scenario class (`second_factor`: "
        "two_factor; `sign_in`: login, reset_password; `account`: the others), unless the "
        "class's own cap is set.",
    )
    phone_region: str | None = Field(
        None, description="Region for numbers written without +country code; unset requires E.164."
    )
    channel_forget_after_s: int = Field(
        3600,
        gt=0,
        description="Verification forgets a channel nobody announced for this long (hourly).",
    )

    # verification: send caps per scenario class (issue 22) ---------------------------------
    code_hourly_cap_second_factor: int | None = Field(
        None,
        ge=1,
        description="Hourly cap per recipient of two_factor codes; unset: "
        "`GATEHOUSE_CODE_HOURLY_CAP`.",
    )
    code_hourly_cap_sign_in: int | None = Field(
        None,
        ge=1,
        description="Hourly cap per recipient of login and reset_password codes together; "
        "unset: `GATEHOUSE_CODE_HOURLY_CAP`.",
    )
    code_hourly_cap_account: int | None = Field(
        None,
        ge=1,
        description="Hourly cap per recipient of register, bind, verify_contact, unbind and "
        "deregister codes together; unset: `GATEHOUSE_CODE_HOURLY_CAP`.",
    )

    # identity ------------------------------------------------------------------------------
    username_min_length: int = Field(3, ge=1, le=USERNAME_MAX)
    password_min_length: int = Field(8, ge=1, le=PASSWORD_MAX)
    session_ttl_s: int = Field(86400, ge=1, description="Sliding: each use extends it.")
    session_absolute_ttl_s: int = Field(30 * 86400, ge=1, description="Hard session lifetime.")
    remember_ttl_s: int = Field(30 * 86400, ge=1)
    auto_login: bool = True
    login_max_failures: int = Field(10, ge=1)
    login_failure_window_s: int = Field(900, ge=1)
    reset_token_ttl_s: int = Field(3600, ge=1)
    reset_token_template: str = "send_password_token"
    reset_token_email_property: str = Field(
        "email",
        description="`email` is the bound email, `username` the username when it is an email "
        "address; any other name is a user property.",
    )
    reset_mail_cap_per_identifier: int = Field(
        5, ge=1, description="Reset requests an hour per identifier; then `rate_limited`."
    )
    reset_mail_cap_per_account: int = Field(
        5, ge=1, description="Reset mails an hour per account; beyond, requests send nothing."
    )
    password_hash_workers: int = Field(0, ge=0, description="Hashing threads; 0 = CPU cores.")

    # identity: common passwords (issue 22) ---------------------------------------------------
    password_common_check: bool = Field(
        True,
        description="Refuse a new password found (case-insensitively) in the list of 143,823 "
        "common and breached passwords (`password_too_common`).",
    )

    # identity, contacts and reset destinations (issue 22, points 1, 4, 8) -----------------
    reset_mail_properties: list[str] = Field(
        default_factory=lambda: ["email", "username", "_username"],
        description="Address fields a caller may name in `email_property_name` (JSON list), "
        "besides GATEHOUSE_RESET_TOKEN_EMAIL_PROPERTY; whichever is named, the mail goes "
        "only to the account's verified email.",
    )
    reset_mail_templates: list[str] = Field(
        default_factory=lambda: ["send_password_token"],
        description="Templates a caller may name in `template_name` (JSON list), besides "
        "GATEHOUSE_RESET_TOKEN_TEMPLATE.",
    )

    # identity: remember chains, step-up, sign-in limits (issue 22, points 2, 3, 5) ---------
    remember_chain_ttl_s: int = Field(
        90 * 86400,
        ge=1,
        description="Absolute lifetime of a remember-token chain, from the sign-in that proved "
        "its factors; rotating the token never extends it.",
    )
    reauth_window_s: int = Field(
        300,
        ge=0,
        description="How long a sign-in's proof counts as recent for what takes an account "
        "(MFA off, contacts, reset mail); older sessions must give the password.",
    )
    login_known_client_ttl_s: int = Field(
        90 * 86400,
        ge=1,
        description="How long a client_ip the owner signed in from keeps its own lane of "
        "failed sign-ins, apart from everyone else's.",
    )
    login_spray_window_s: int = Field(
        60, ge=1, description="Window of the per-client_ip, per-caller and global limits."
    )
    login_max_failures_per_client_ip: int = Field(
        30, ge=1, description="Failed sign-ins per client_ip (IPv6: per /64) and window."
    )
    login_max_failures_per_caller: int = Field(
        300, ge=1, description="Failed sign-ins per calling AMQP user and window."
    )
    login_max_failures_global: int = Field(
        1200, ge=1, description="Failed sign-ins of every account together per window."
    )

    # notifier ------------------------------------------------------------------------------
    smtp_url: SecretStr | None = Field(
        None,
        description="smtp://user:pass@host:port; smtps:// for implicit TLS; ?starttls=true.",
    )
    mail_from: str = "Gatehouse <no-reply@localhost>"
    sms_url: str | None = Field(None, description="Base URL of a Twilio-compatible SMS API.")
    sms_account_sid: str | None = None
    sms_auth_token: SecretStr | None = None
    sms_from: str | None = Field(None, description="Sender number (E.164) or sender id.")
    template_dir: str | None = Field(
        None, description="Operator templates: <locale>/<name>.<part>.j2 override built-ins."
    )
    dev_mailbox_dir: str = Field(
        "var/mailbox",
        # GATEHOUSE_OUTBOX_DIR is its old name, read (with a warning) so deployments keep
        # working; the transactional outbox (services.runtime.outbox) is another thing.
        validation_alias=AliasChoices("GATEHOUSE_DEV_MAILBOX_DIR", "GATEHOUSE_OUTBOX_DIR"),
        description="Dev mode: the directory emails and SMS are written to instead of sent.",
    )
    notify_channels: list[Channel] = Field(
        default_factory=lambda: list(get_args(Channel)),
        description="Built-in channels the notifier serves; each needs its provider in prod.",
    )
    security_notices: list[SecurityNotice] = Field(
        default_factory=lambda: list(get_args(SecurityNotice)),
        description="Which changes the account's owner is told about (JSON list); all by "
        "default. A kind left out is still consumed, and dropped.",
    )
    notify_max_attempts: int = Field(5, ge=1, le=50)
    notify_retry_base_ms: int = Field(1000, ge=1)
    notify_retry_max_ms: int = Field(300_000, ge=1)
    smtp_timeout_s: float = 30.0
    sms_timeout_s: float = 15.0

    # notifier: what callers may send through notifier.send.v1 (issue 21) -------------------
    notify_caller_templates: list[str] = Field(
        default_factory=list,
        description="Templates callers may send (JSON list); none by default. Never one that "
        "carries a code, a reset token or a security notice: start-up refuses those.",
    )
    notify_caller_emails_per_hour: int = Field(
        100, ge=0, description="Emails one caller (AMQP user_id) may send an hour."
    )
    notify_caller_sms_per_hour: int = Field(
        10, ge=0, description="SMS one caller (AMQP user_id) may send an hour."
    )
    notify_emails_per_hour: int = Field(
        1000, ge=0, description="Emails all callers together may send an hour."
    )
    notify_sms_per_hour: int = Field(
        100, ge=0, description="SMS all callers together may send an hour."
    )

    # hooks and two-factor --------------------------------------------------------------------
    hook_pre_registration_timeout_s: float = Field(
        2.0, gt=0, description="How long one pre-registration hook may take to reply."
    )
    hook_post_login_timeout_s: float = Field(
        2.0, gt=0, description="How long one post-login hook may take to reply."
    )
    hook_pre_registration_policy: Literal["fail_closed", "fail_open"] = Field(
        "fail_closed", description="A hook that times out or replies garbage: fail the flow?"
    )
    hook_post_login_policy: Literal["fail_closed", "fail_open"] = "fail_open"
    hook_forget_after_s: int = Field(
        3600,
        gt=0,
        description="Identity forgets a hook no worker announced for this long (checked hourly).",
    )
    mfa: MfaPolicy = Field(
        MfaPolicy.off,
        description="Two-factor login: off, optional (per account, `set_mfa`), required.",
    )
    mfa_token_ttl_s: int = Field(300, ge=1, description="Lifetime of a login's mfa token.")
    mfa_max_attempts: int = Field(5, ge=1, description="Code attempts per mfa token.")

    # two-factor login: the email option (issue 28, seed 003) ------------------------------
    mfa_email: bool = Field(
        False,
        description="Offer a verified email as a second factor. Seed 003 offers it only where "
        "the application requires users to verify their email address: turn it on where "
        "yours does; off, codes go to a verified phone only.",
    )

    # the broker perimeter (who may send what) -------------------------------------------
    admin_users: list[str] = Field(
        default_factory=list,
        description="RabbitMQ users whose admin commands identity accepts (JSON list), on top "
        "of the admin exchange's own permissions; dev mode adds `guest`.",
    )
    hook_max_per_trigger: int = Field(
        20, ge=1, description="Hooks identity keeps per trigger; a new name beyond is refused."
    )
    channel_max: int = Field(
        50, ge=1, description="Custom channels verification keeps; a new name beyond is refused."
    )

    @property
    def admitted_admins(self) -> frozenset[str]:
        """Who may run admin commands: `admin_users`, and `guest` in dev mode (`gatehouse up`
        signs in as guest and says so)."""
        return frozenset(self.admin_users) | ({"guest"} if self.mode is Mode.dev else set())

    @model_validator(mode="after")
    def _warn_deprecated_names(self) -> "Settings":
        for old, new in DEPRECATED_ENV.items():
            if old in os.environ:
                log.warning("%s is deprecated and will be removed: set %s instead", old, new)
        return self

    # access tokens ---------------------------------------------------------------------------
    access_tokens: Literal["off", "jwt"] = Field(
        "off",
        description="`jwt`: every reply that carries a session also carries a signed access "
        "token other services verify on their own.",
    )
    access_token_alg: Literal["EdDSA", "ES256"] = Field(
        "EdDSA", description="Signature algorithm of new signing keys (Ed25519 or P-256)."
    )
    access_token_ttl_s: int = Field(300, ge=1, le=86400, description="Access token lifetime.")
    access_token_issuer: str = Field(
        "gatehouse", min_length=1, description="The `iss` claim verifiers expect."
    )
    access_token_audience: list[str] = Field(
        default_factory=lambda: ["api"],
        min_length=1,
        description="The `aud` claim (JSON list): the services the tokens are meant for.",
    )
    access_token_claims: list[AccessTokenClaim] = Field(
        default_factory=list,
        description="User fields to add to each access token (JSON list); none by default.",
    )
    signing_key_secret: SecretStr | None = Field(
        None, description="Seals the private halves of the signing keys at rest."
    )
    signing_key_reload_s: float = Field(
        60.0,
        gt=0,
        description="How often a replica rereads the signing keys; a rotated key signs only "
        "after twice this, once every replica publishes it.",
    )

    # secrets: one job each, given only where needed (services.runtime.keys) -----------------
    reply_key: SecretStr | None = Field(
        None,
        description="Every service, each its own: MACs requests and seals recorded replies.",
    )
    dev_key_dir: str = Field(
        "var/keys",
        description="Dev mode: where the keys left unset are made once and kept (mode 0600).",
    )

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> "Settings":
        if self.mode is not Mode.prod:
            return self
        given: dict[str, str] = {}
        for variable, secret in (
            ("GATEHOUSE_CODE_HMAC_KEY", self.code_hmac_key),
            ("GATEHOUSE_REPLY_KEY", self.reply_key),
            ("GATEHOUSE_SIGNING_KEY_SECRET", self.signing_key_secret),
        ):
            if secret is None:
                continue
            value = secret.get_secret_value()
            keys.check(variable, value)
            for other, seen in given.items():
                if seen == value:
                    raise ValueError(f"{variable} equals {other}: each secret has one job")
            given[variable] = value
        return self

    def _secret(self, secret: SecretStr | None, variable: str, file: str, needed_for: str) -> bytes:
        if secret is not None:
            return secret.get_secret_value().encode()
        if self.mode is Mode.prod:
            raise ValueError(f"{variable} is required when GATEHOUSE_MODE=prod{needed_for}")
        return keys.dev_key(self.dev_key_dir, file, variable)

    @cached_property
    def code_key(self) -> bytes:
        """HMAC key of verification codes (verification only)."""
        return self._secret(self.code_hmac_key, "GATEHOUSE_CODE_HMAC_KEY", "code-hmac-key", "")

    @cached_property
    def _reply_root(self) -> bytes:
        return self._secret(self.reply_key, "GATEHOUSE_REPLY_KEY", "reply-key", "")

    def record_keys(self, service: str) -> keys.RecordKeys:
        """The keys `service` records its replies under (derived from GATEHOUSE_REPLY_KEY)."""
        return keys.record_keys(self._reply_root, service)

    @cached_property
    def signing_seal_key(self) -> bytes:
        """AES-256-GCM key sealing the private halves of access token signing keys, derived
        from `GATEHOUSE_SIGNING_KEY_SECRET` (identity only)."""
        secret = self._secret(
            self.signing_key_secret,
            "GATEHOUSE_SIGNING_KEY_SECRET",
            "signing-key-secret",
            " and GATEHOUSE_ACCESS_TOKENS=jwt",
        )
        return keys.derive(secret, "gatehouse signing key seal v1")

    @property
    def is_dev(self) -> bool:
        return self.mode is Mode.dev
