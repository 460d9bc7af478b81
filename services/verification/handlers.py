"""Verification commands: send a code, check a code."""

import asyncio
import uuid
from datetime import timedelta

from aio_pika.exceptions import DeliveryError

from contracts.errors import ErrorCode
from contracts.topology import delivery_routing_key
from contracts.verification import v1
from services.runtime.contacts import normalize
from services.runtime.errors import InvalidParams
from services.runtime.service import Service
from services.verification import domain, store
from services.verification.channels import Channels
from services.verification.domain import VerificationError


class Verification:
    """The verification use cases, bound to one running service."""

    def __init__(self, service: Service) -> None:
        self.service = service
        settings = service.settings
        self.policy = domain.Policy(
            ttl=timedelta(seconds=settings.code_ttl_s),
            max_attempts=settings.code_max_attempts,
            resend_cooldown=timedelta(seconds=settings.code_resend_cooldown_s),
            hourly_cap=settings.code_hourly_cap,
        )
        self.channels = Channels(service)

    def _recipient(self, raw: str) -> str:
        return normalize(raw, "send_to", self.service.settings.phone_region)[1]

    async def _reachable(self, raw: str, channel: str) -> str:
        """The normalised recipient, refused before any code exists if `channel` cannot
        reach it."""
        kind, send_to = normalize(raw, "send_to", self.service.settings.phone_region)
        reaches = await self.channels.reaches(channel)
        if reaches is not None and reaches is not kind:
            raise InvalidParams("send_to", f"needs {reaches.value} for the {channel} channel")
        return send_to

    async def send_code(self, request: v1.SendCode) -> v1.CodeSent:
        send_to = await self._reachable(request.send_to, request.channel)
        scenario = request.scenario.value
        code = domain.generate_code()
        digest = domain.digest(self.service.settings.code_key, send_to, scenario, code)
        # The code commits only once the broker confirmed its delivery (the transaction is
        # the command's own, committed with the reply): a send that never reached a channel
        # leaves no code behind to be checked, to hold the cooldown or to count toward the
        # hourly cap, and a caller that got no reply can send again at once.
        async with self.service.transaction() as con:
            issued = await store.issue_code(con, send_to, scenario, digest, self.policy)
            if issued.retry_after is not None:
                raise domain.rate_limited(issued.retry_after)
            assert issued.expires_at is not None
            expires_at = issued.expires_at
            delivery = v1.Delivery(
                send_to=send_to,
                code=code,
                scenario=request.scenario,
                channel=request.channel,
                locale=request.locale,
                expires_at=expires_at,
            )
            try:
                async with asyncio.timeout(self.service.settings.rpc_timeout_s):
                    await self.service.publisher.publish(
                        self.service.topology.delivery,
                        delivery_routing_key(request.channel),
                        delivery.model_dump_json().encode(),
                        message_id=uuid.uuid4().hex,
                    )
            except DeliveryError:
                raise VerificationError(
                    f"no consumer is bound for channel {request.channel!r}",
                    code=ErrorCode.delivery_unavailable,
                    channel=request.channel,
                ) from None
        return v1.CodeSent(
            expires_at=expires_at, resend_after=issued.issued_at + self.policy.resend_cooldown
        )

    async def check_code(self, request: v1.CheckCode) -> v1.CodeChecked:
        send_to = self._recipient(request.send_to)
        scenario = request.scenario.value
        digest = domain.digest(self.service.settings.code_key, send_to, scenario, request.code)
        domain.judge(await store.check_and_consume(self.service.pool, send_to, scenario, digest))
        return v1.CodeChecked()


def register(service: Service) -> Verification:
    verification = Verification(service)

    @service.on_start
    async def require_key() -> None:
        # Fails start-up in prod mode without GATEHOUSE_CODE_HMAC_KEY, before any code is made.
        _ = service.settings.code_key

    service.command(v1.send_code, verification.send_code)
    service.command(v1.check_code, verification.check_code)
    service.command(v1.register_channel, verification.channels.register)
    return verification
