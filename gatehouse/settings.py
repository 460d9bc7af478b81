"""What a process needs to talk to Gatehouse over the broker, from `GATEHOUSE_*` variables.

A hook or channel worker in another service reads these and nothing else; every Gatehouse
service reads them as part of its `Settings`, which extends this class.
"""

from functools import cached_property
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.topology import DEFAULT_NAMESPACE, Topology


class BrokerSettings(BaseSettings):
    # populate_by_name: a field with environment aliases (NotifierSettings.dev_mailbox_dir) is still
    # set by its name in code, as every other field is.
    model_config = SettingsConfigDict(
        env_prefix="GATEHOUSE_", frozen=True, extra="ignore", populate_by_name=True
    )

    amqp_url: SecretStr = Field(
        SecretStr("amqp://guest:guest@localhost:5672/"),
        description="RabbitMQ URL; the user in it is the one the broker grants permissions to.",
    )
    namespace: str = Field(
        DEFAULT_NAMESPACE,
        pattern=r"^[a-z][a-z0-9_-]{0,62}$",
        description="Prefix of every exchange and queue name; another one runs an isolated "
        "copy on the same broker.",
    )
    # observability of the broker connection
    log_messages: bool = Field(
        False, description="FastStream's per-message INFO log lines; they cost throughput."
    )
    message_metrics: bool = Field(
        False,
        description="FastStream's per-message Prometheus histograms on /metrics; they cost "
        "about 4% of command throughput. Gatehouse's own counters are always there.",
    )
    otel_enabled: bool = Field(
        False, description="OpenTelemetry spans for every message, trace context in headers."
    )
    # the queues a process declares
    delivery_limit: int = Field(
        5,
        description="Deliveries of one message (quorum queues) before it goes to its queue's "
        "dead-letter queue.",
    )
    queue_type: Literal["quorum", "classic"] = Field(
        "quorum", description="quorum in production; classic for throwaway queues (tests)."
    )
    prefetch: int = Field(64, description="Unacknowledged messages each consumer takes at once.")
    # workers that announce themselves
    channel_announce_interval_s: float = Field(
        60.0, gt=0, description="How often a custom channel worker announces itself again."
    )
    hook_announce_interval_s: float = Field(
        60.0, gt=0, description="How often a hook worker announces its hooks to identity again."
    )

    @cached_property
    def topology(self) -> Topology:
        return Topology(self.namespace)
