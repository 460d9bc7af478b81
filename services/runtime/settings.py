"""What every Gatehouse service reads, from `GATEHOUSE_*` environment variables.

Each service extends `Settings` with its own (`services.<name>.settings`); `gatehouse up`
and the other commands that build every service compose the three
(`services.ops.system.SystemSettings`). Secrets are given each to the service that does the job
(`services.runtime.keys`): a subclass adds its own to `given_secrets`, and production refuses
a weak one or one doing two jobs.
"""

from enum import StrEnum
from functools import cached_property
from typing import TypeVar

from pydantic import Field, SecretStr, model_validator

from gatehouse.settings import BrokerSettings
from services.runtime import keys


class Mode(StrEnum):
    dev = "dev"
    prod = "prod"


class Settings(BrokerSettings):
    """The settings of every service: the broker's (`BrokerSettings`), the database, the
    mode, observability, limits of the command runtime, and the reply key."""

    # connections (the broker's: BrokerSettings)
    database_url: SecretStr = Field(
        SecretStr("postgresql://localhost/gatehouse"),
        description="PostgreSQL URL; each service uses its own schema in this database.",
    )
    mode: Mode = Field(
        Mode.prod,
        description="`prod` refuses to start without the secrets a service needs and refuses "
        "weak ones; `dev` makes the keys left unset (kept under GATEHOUSE_DEV_KEY_DIR), allows "
        "the console channel and the dev mailbox, and lets `guest` run admin commands. "
        "`gatehouse up` defaults to dev.",
    )
    # observability
    http_port: int = Field(
        8080,
        description="Port of `/healthz`, `/readyz`, `/metrics`, and identity's "
        "`/.well-known/jwks.json`.",
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_json: bool = Field(False, description="One JSON object per log line (production).")
    # messaging limits
    rpc_timeout_s: float = Field(
        10.0, description="Seconds a command sent to another service waits for its reply."
    )
    max_message_bytes: int = Field(
        640 * 1024, description="A larger command body is refused as `invalid_params`."
    )
    idempotency_ttl_s: int = Field(
        24 * 3600,
        description="How long a reply is kept for a caller's `idempotency-key`.",
    )
    db_pool_max: int = Field(10, description="Connections per service pool.")
    admin_users: list[str] = Field(
        default_factory=list,
        description="RabbitMQ users whose admin commands identity accepts (JSON list), on top "
        "of the admin exchange's own permissions; dev mode adds `guest`.",
    )

    # read by two services that must agree ---------------------------------------------------
    phone_region: str | None = Field(
        None,
        description="Region for numbers written without +country code; unset requires E.164. "
        "Identity, verification and the notifier spell a number the same way with it.",
    )
    code_ttl_s: int = Field(
        600,
        description="Seconds a verification code stays valid; identity keeps a pending "
        "contact at least this long (and at least a day).",
    )
    reset_token_template: str = Field(
        "send_password_token",
        description="Notifier template of the password reset mail when the caller names none; "
        "the notifier refuses to start if it does not show the token.",
    )
    reset_mail_templates: list[str] = Field(
        default_factory=lambda: ["send_password_token"],
        description="Templates a caller may name in `template_name` (JSON list), besides "
        "GATEHOUSE_RESET_TOKEN_TEMPLATE.",
    )

    # secrets: one job each, given only where needed (services.runtime.keys) -----------------
    reply_key: SecretStr | None = Field(
        None,
        description="Every service, each its own value: the MAC binding a message id or "
        "idempotency key to its request, and the AES-GCM sealing of the stored replies (HKDF, "
        "one label per service and purpose); identity also keys its known sign-in clients "
        "with it. Required in prod.",
    )
    dev_key_dir: str = Field(
        "var/keys",
        description="Dev mode: where a key left unset is made once (32 random bytes, file mode "
        "0600, directory 0700) and read at the next start, so codes and recorded replies "
        "survive a restart.",
    )

    @property
    def reset_templates(self) -> frozenset[str]:
        """Every template identity may mail a reset token with: the default and those a caller
        may name. The notifier refuses to start unless each shows the token (seed 004)."""
        return frozenset({self.reset_token_template, *self.reset_mail_templates})

    @property
    def admitted_admins(self) -> frozenset[str]:
        """Who may run admin commands: `admin_users`, and `guest` in dev mode (`gatehouse up`
        signs in as guest and says so)."""
        return frozenset(self.admin_users) | ({"guest"} if self.mode is Mode.dev else set())

    def given_secrets(self) -> dict[str, SecretStr | None]:
        """The secrets this service holds, by variable; a service's class adds its own."""
        return {"GATEHOUSE_REPLY_KEY": self.reply_key}

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> "Settings":
        if self.mode is not Mode.prod:
            return self
        given: dict[str, str] = {}
        for variable, secret in self.given_secrets().items():
            if secret is None:
                continue
            value = secret.get_secret_value()
            keys.check(variable, value)
            for other, seen in given.items():
                if seen == value:
                    raise ValueError(f"{variable} equals {other}: each secret has one job")
            given[variable] = value
        return self

    def secret(self, secret: SecretStr | None, variable: str, file: str, needed_for: str) -> bytes:
        """`secret`'s bytes; unset, an error in prod mode and the kept dev key in dev mode."""
        if secret is not None:
            return secret.get_secret_value().encode()
        if self.mode is Mode.prod:
            raise ValueError(f"{variable} is required when GATEHOUSE_MODE=prod{needed_for}")
        return keys.dev_key(self.dev_key_dir, file, variable)

    @cached_property
    def reply_root(self) -> bytes:
        """The service's GATEHOUSE_REPLY_KEY, the root its own keys are derived from."""
        return self.secret(self.reply_key, "GATEHOUSE_REPLY_KEY", "reply-key", "")

    def record_keys(self, service: str) -> keys.RecordKeys:
        """The keys `service` records its replies under (derived from GATEHOUSE_REPLY_KEY)."""
        return keys.record_keys(self.reply_root, service)

    @property
    def is_dev(self) -> bool:
        return self.mode is Mode.dev


ServiceSettings = TypeVar("ServiceSettings", bound=Settings)


def narrow(settings: Settings, kind: type[ServiceSettings]) -> ServiceSettings:
    """`settings` as a service's own class: a service is built with its own settings, or with
    the composed `SystemSettings`, which is an instance of each."""
    if not isinstance(settings, kind):
        raise TypeError(f"built with {type(settings).__name__}, not {kind.__name__}")
    return settings
