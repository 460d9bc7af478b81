"""One message through the notifier: claim, render, send, then sent / retry / give up.

A message reaches a work queue three ways: a code delivery from verification, a job queued
by `notifier.send.v1`, or a retry coming back from a delay queue. All three go through
`Dispatcher.process`, so retries, dedupe and events are the same for each.

Retries use no broker plugin: the message is republished to `<queue>.delay.<ms>`, a queue
with that TTL whose dead-letter target is the work queue, with the attempt number in a
header. One queue per delay (not a per-message expiration) avoids head-of-line blocking.
"""

import logging
from typing import Any

from faststream.rabbit import RabbitMessage, RabbitQueue

from contracts.events import v1 as events
from gatehouse._recipients import CHANNEL_REACHES, kind_of
from services.notifier import domain, store
from services.notifier.domain import DeliveryFailure, GiveUp, Job, Retry, TransientFailure
from services.notifier.metrics import count
from services.notifier.providers import Providers
from services.notifier.templates import Rendered, Templates
from services.runtime.outbox import cloud_event, enqueue
from services.runtime.service import Service

ATTEMPT_HEADER = "x-gatehouse-attempt"
SOURCE = "gatehouse/notifier"
_BROKER_HEADERS = ("x-death", "x-first-death", "x-last-death", "x-delivery-count")

log = logging.getLogger("gatehouse.notifier")


class Dispatcher:
    def __init__(
        self,
        service: Service,
        templates: Templates,
        policy: domain.RetryPolicy,
        providers: Providers,
    ) -> None:
        self.service = service
        self.templates = templates
        self.policy = policy
        self.providers = providers
        self._delay_queues: set[str] = set()

    # entry -------------------------------------------------------------------------------

    async def process(self, message: RabbitMessage, job: Job, queue: str) -> None:
        attempt = domain.attempt_of(
            (message.headers or {}).get(ATTEMPT_HEADER), self.policy.max_attempts
        )
        if not await store.messages.claim(self.service.pool, job, attempt):
            await self._duplicate(message, job)
            return
        try:
            await self._send(job)
        except DeliveryFailure as failure:
            await self._failed(message, job, queue, attempt, failure)
            return
        except Exception as exc:
            # A bug in a provider, not a verdict on the message: retried, then given up on
            # with an event and a dead-letter entry like any other failure.
            log.error("sending %s raised %s", job.message_id, type(exc).__name__)
            unexpected = TransientFailure(f"unexpected {type(exc).__name__}")
            await self._failed(message, job, queue, attempt, unexpected)
            return
        await self._sent(job, attempt)

    async def render(self, job: Job) -> Rendered:
        try:
            return self.templates.render(job.template, job.locale, job.channel, job.data)
        except domain.PermanentFailure as failure:
            raise domain.PermanentFailure(job.scrub(failure.reason)) from None

    # sending -----------------------------------------------------------------------------

    async def _send(self, job: Job) -> None:
        wanted = CHANNEL_REACHES[job.channel]
        if kind_of(job.to) is not wanted:
            raise domain.PermanentFailure(f"recipient is not a {wanted.value} for {job.channel}")
        mailer, texter = self.providers.mailer, self.providers.texter
        rendered = await self.render(job)
        if job.channel == "email":
            if mailer is None:
                raise domain.PermanentFailure("email is not enabled")
            await mailer.send(job, rendered)
        else:
            if texter is None:
                raise domain.PermanentFailure("sms is not enabled")
            await texter.send(job, rendered.sms or "")

    # outcomes ----------------------------------------------------------------------------

    async def _sent(self, job: Job, attempt: int) -> None:
        data = events.NotificationSent(**self._outcome(job, attempt))
        async with self.service.pool.acquire() as con, con.transaction():
            if await store.messages.finish(con, job.message_id, "sent", None):
                await enqueue(con, cloud_event(events.notification_sent, data, source=SOURCE))
        count(job.channel, "sent")
        log.info("sent %s %s to %s (attempt %d)", job.channel, job.template, job.masked_to, attempt)

    async def _failed(
        self, message: RabbitMessage, job: Job, queue: str, attempt: int, failure: DeliveryFailure
    ) -> None:
        failure.reason = job.scrub(failure.reason)
        step = domain.next_step(self.policy, attempt, failure)
        if isinstance(step, Retry):
            await self._retry(message, job, queue, step, failure)
        else:
            await self._give_up(message, job, attempt, step)

    async def _retry(
        self, message: RabbitMessage, job: Job, queue: str, step: Retry, failure: DeliveryFailure
    ) -> None:
        headers = {
            k: v for k, v in (message.headers or {}).items() if not k.startswith(_BROKER_HEADERS)
        }
        headers[ATTEMPT_HEADER] = step.next_attempt
        try:
            delay_queue = await self._delay_queue(queue, step.delay_ms)
            # State change and publish commit together: a retry that comes back before the
            # commit waits on the row lock instead of finding the message still `sending`.
            async with self.service.pool.acquire() as con, con.transaction():
                if not await store.messages.finish(con, job.message_id, "retrying", failure.reason):
                    return
                await self.service.broker.publish(
                    message.body,
                    queue=delay_queue,
                    headers=headers,
                    message_id=message.message_id or job.message_id,
                    message_type=message.raw_message.type,
                    content_type=message.content_type,
                    correlation_id=message.correlation_id,
                    persist=True,
                )
        except Exception as exc:
            # Rolled back, still `sending`: give up the usual way, event and dead letter.
            reason = f"retry not scheduled ({type(exc).__name__}) after: {failure.reason}"
            attempt = step.next_attempt - 1
            await self._give_up(message, job, attempt, GiveUp(reason, permanent=False))
            return
        count(job.channel, "retried")
        log.warning(
            "%s %s to %s failed (%s); attempt %d in %d ms",
            job.channel,
            job.message_id,
            job.masked_to,
            failure.reason,
            step.next_attempt,
            step.delay_ms,
        )

    async def _give_up(self, message: RabbitMessage, job: Job, attempt: int, step: GiveUp) -> None:
        data = events.NotificationFailed(
            **self._outcome(job, attempt), reason=step.reason, permanent=step.permanent
        )
        async with self.service.pool.acquire() as con, con.transaction():
            if await store.messages.finish(con, job.message_id, "failed", step.reason):
                await enqueue(con, cloud_event(events.notification_failed, data, source=SOURCE))
        count(job.channel, "failed")
        log.error(
            "%s %s to %s failed for good after %d attempt(s): %s",
            job.channel,
            job.message_id,
            job.masked_to,
            attempt,
            step.reason,
        )
        # The work queue dead-letters a rejected message into `<queue>.dlq`.
        await message.reject(requeue=False)

    async def _duplicate(self, message: RabbitMessage, job: Job) -> None:
        count(job.channel, "duplicate")
        if message.raw_message.redelivered:
            async with self.service.pool.acquire() as con, con.transaction():
                attempts = await store.messages.give_up_interrupted(con, job.message_id)
                if attempts is not None:
                    data = events.NotificationFailed(
                        **self._outcome(job, attempts),
                        reason="interrupted during sending: outcome unknown",
                        permanent=True,
                    )
                    spec = events.notification_failed
                    await enqueue(con, cloud_event(spec, data, source=SOURCE))
                    log.error("%s %s was interrupted mid-send", job.channel, job.message_id)
                    return
        log.info("%s %s was handled already; not sending it again", job.channel, job.message_id)

    def _outcome(self, job: Job, attempts: int) -> dict[str, Any]:
        return {
            "message_id": job.message_id,
            "channel": job.channel,
            "template": job.template,
            "recipient": job.masked_to,
            "attempts": attempts,
        }

    def delay_queues(self, queue: str) -> list[str]:
        """The name of every delay queue `queue` may get, whether declared yet or not."""
        topology = self.service.topology
        return [topology.delay_queue(queue, ms) for ms in domain.delays(self.policy)]

    async def _delay_queue(self, queue: str, delay_ms: int) -> str:
        name = self.service.topology.delay_queue(queue, delay_ms)
        if name not in self._delay_queues:
            await self.service.broker.declare_queue(
                RabbitQueue(
                    name,
                    durable=True,
                    arguments={
                        "x-message-ttl": delay_ms,
                        "x-dead-letter-exchange": "",
                        "x-dead-letter-routing-key": queue,
                    },
                )
            )
            self._delay_queues.add(name)
        return name
