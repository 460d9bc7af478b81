"""The docs' "What a namespace costs the broker" holds the figures the code gives, and the
broker deployments give a namespace the open files it needs."""

import re
from pathlib import Path

import yaml

from services.notifier.domain import RetryPolicy
from services.ops import namespace
from services.ops.system import SystemSettings, build_services
from services.runtime.settings import Mode
from tests.contract.test_deploy_k8s import TARGETS, rendered

ROOT = Path(__file__).resolve().parents[2]
SECTION = (ROOT / "docs" / "operations" / "namespace-cost.md").read_text()
COMPOSE = ROOT / "deploy" / "compose.yaml"
# Measured on RabbitMQ 3.10.8 (see the page): descriptors a quorum queue holds.
FDS_PER_QUORUM_QUEUE = 3
# RabbitMQ's production checklist asks for at least this many open files.
RECOMMENDED_OPEN_FILES = 50_000

PRODUCTION = SystemSettings(
    mode="prod",
    code_hmac_key="namespace-cost-code-key-0123456789abcdef",
    reply_key="namespace-cost-reply-key-0123456789abcdef",
    smtp_url="smtp://mail.example.com:587",
    sms_url="https://sms.example.com",
    sms_account_sid="sid",
    sms_auth_token="token",
    sms_from="+15550000000",
)


def _figure(label: str) -> list[int]:
    return [int(n) for n in re.findall(rf"\*\*(\d+) {label}\*\*", SECTION)]


def test_the_page_counts_the_queues_a_namespace_declares():
    services = build_services(PRODUCTION)
    commands = [len(s.commands) for s in services]
    names = namespace.footprint(PRODUCTION)
    assert _figure("command queues") == [sum(commands)]
    assert _figure("consumer queues") == [len(names.work_queues) - sum(commands)]
    breakdown = ", ".join(
        f"{s.name} {n}"
        for s, n in sorted(zip(services, commands, strict=True), key=lambda p: -p[1])
    )
    assert f"({breakdown})" in SECTION
    dev = namespace.footprint(PRODUCTION.model_copy(update={"mode": Mode.dev}))
    quorum = [len(n.work_queues) + len(n.dead_letter_queues) for n in (names, dev)]
    assert _figure("quorum queues") == quorum


def test_the_page_counts_the_exchanges_and_the_default_delay_queues():
    assert _figure("exchanges") == [len(namespace.footprint(PRODUCTION).exchanges)]
    policy = RetryPolicy(
        max_attempts=PRODUCTION.notify_max_attempts,
        base_ms=PRODUCTION.notify_retry_base_ms,
        max_ms=PRODUCTION.notify_retry_max_ms,
    )
    ladder = {policy.backoff_ms(attempt) for attempt in range(1, policy.max_attempts)}
    assert _figure("per channel") == [len(ladder)]


def _rabbitmq_open_files() -> dict[str, int]:
    limits = {}
    for target in TARGETS:
        (cluster,) = [d for d in rendered(target) if d["kind"] == "RabbitmqCluster"]
        env = cluster["spec"]["rabbitmq"]["envConfig"]
        found = re.fullmatch(r"ulimit -S -n (\d+)\n", env)
        assert found is not None, env
        limits[target] = int(found.group(1))
    nofile = yaml.safe_load(COMPOSE.read_text())["services"]["rabbitmq"]["ulimits"]["nofile"]
    limits["compose"] = nofile["soft"]
    return limits


def test_every_broker_deployment_opens_enough_files_for_many_namespaces():
    per_namespace = 2 * len(namespace.footprint(PRODUCTION).work_queues) * FDS_PER_QUORUM_QUEUE
    for where, limit in _rabbitmq_open_files().items():
        assert limit >= RECOMMENDED_OPEN_FILES, where
        assert limit // per_namespace >= 100, where
        assert f"{limit}" in SECTION, f"the page does not give {where}'s limit {limit}"
