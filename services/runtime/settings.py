"""Settings shared by every service, read from `GATEHOUSE_*` environment variables."""

import logging
import secrets
from enum import StrEnum
from functools import cached_property

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.topology import DEFAULT_NAMESPACE, Topology

log = logging.getLogger("gatehouse.settings")


class Mode(StrEnum):
    dev = "dev"
    prod = "prod"


class MfaPolicy(StrEnum):
    off = "off"
    optional = "optional"
    required = "required"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEHOUSE_", frozen=True, extra="ignore")

    # connections
    amqp_url: SecretStr = SecretStr("amqp://guest:guest@localhost:5672/")
    database_url: SecretStr = SecretStr("postgresql://localhost/gatehouse")
    namespace: str = Field(DEFAULT_NAMESPACE, pattern=r"^[a-z][a-z0-9_-]{0,62}$")
    mode: Mode = Mode.prod
    # observability
    http_port: int = 8080
    log_level: str = "INFO"
    log_json: bool = False
    log_messages: bool = Field(
        False, description="FastStream's per-message INFO log lines; they cost throughput."
    )
    metrics: bool = Field(True, description="Per-message Prometheus metrics on /metrics.")
    # messaging limits
    rpc_timeout_s: float = 10.0
    max_message_bytes: int = 640 * 1024
    delivery_limit: int = 5
    prefetch: int = 64
    idempotency_ttl_s: int = 24 * 3600
    db_pool_max: int = 10
    # verification codes
    code_hmac_key: SecretStr | None = None
    code_ttl_s: int = 600
    code_max_attempts: int = 5
    code_resend_cooldown_s: int = 60
    code_hourly_cap: int = 10
    phone_region: str | None = Field(
        None, description="Region for numbers written without +country code; unset requires E.164."
    )

    # identity ------------------------------------------------------------------------------

    # notifier ------------------------------------------------------------------------------

    # hooks and two-factor --------------------------------------------------------------------

    @cached_property
    def topology(self) -> Topology:
        return Topology(self.namespace)

    @cached_property
    def code_key(self) -> bytes:
        """HMAC key for verification codes. Dev mode makes a throwaway one per process."""
        if self.code_hmac_key is not None:
            return self.code_hmac_key.get_secret_value().encode()
        if self.mode is Mode.prod:
            raise ValueError("GATEHOUSE_CODE_HMAC_KEY is required when GATEHOUSE_MODE=prod")
        log.warning(
            "GATEHOUSE_CODE_HMAC_KEY is not set: using a random key for this process (dev mode); "
            "codes will not survive a restart"
        )
        return secrets.token_bytes(32)

    @property
    def is_dev(self) -> bool:
        return self.mode is Mode.dev
