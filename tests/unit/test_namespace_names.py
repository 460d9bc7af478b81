"""The names a namespace declares are known without a broker (for `gatehouse down --purge`)."""

import pytest

from services.notifier import domain
from services.notifier.domain import Retry, RetryPolicy, TransientFailure
from services.ops import namespace
from services.ops.system import SystemSettings

POLICIES = [
    RetryPolicy(),
    RetryPolicy(max_attempts=5, base_ms=1000, max_ms=10_000),
    RetryPolicy(max_attempts=8, base_ms=750, max_ms=61_500),
]
RETRY_AFTER_MS = [None, 0, 1, 999, 1000, 1001, 2500, 59_999, 61_000, 10**9]


@pytest.mark.parametrize("policy", POLICIES)
def test_every_delay_the_notifier_can_choose_is_named_up_front(policy: RetryPolicy):
    known = set(domain.delays(policy))
    for attempt in range(1, policy.max_attempts):
        for retry_after_ms in RETRY_AFTER_MS:
            failure = TransientFailure("x", retry_after_ms=retry_after_ms)
            step = domain.next_step(policy, attempt, failure)
            assert isinstance(step, Retry)
            assert step.delay_ms in known, (attempt, retry_after_ms)


def test_a_footprint_names_each_work_queue_once_with_its_dead_letter_queue():
    settings = namespace.everything(SystemSettings(namespace="ns"))
    names = namespace.footprint(settings, channels=("twilio",))
    assert len(set(names.work_queues)) == len(names.work_queues)
    assert names.dead_letter_queues == tuple(f"{q}.dlq" for q in names.work_queues)
    assert "ns.identity.login.v1" in names.work_queues
    assert "ns.verification.console" in names.work_queues  # dev mode's channel
    assert "ns.channel.twilio" in names.work_queues
    assert "ns.notifier.sms.delay.8000" in names.delay_queues
    assert names.exchanges == (
        "ns.commands",
        "ns.admin",
        "ns.internal",
        "ns.workers",
        "ns.events",
        "ns.delivery",
        "ns.hooks",
        "ns.dlx",
    )
    assert all(name.startswith("ns.") for name in names.queues + names.exchanges)
