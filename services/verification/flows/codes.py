"""Send a code and check a code: the two things verification is for."""

import asyncio
import uuid

from aio_pika.exceptions import DeliveryError

from contracts.errors import ErrorCode
from contracts.topology import delivery_routing_key
from contracts.verification import v1
from services.runtime import work
from services.runtime.work import UnitOfWork
from services.verification import domain, store
from services.verification.domain import VerificationError
from services.verification.service import VerificationService


async def send_code(
    verification: VerificationService, uow: UnitOfWork, request: v1.SendCode
) -> v1.CodeSent:
    """The public send: not for the codes only identity sends (a sign-in's second factor),
    refused before anything is counted, so no caller can use up an owner's cap for them."""
    if request.scenario in v1.ISSUED_BY_IDENTITY:
        raise VerificationError(
            f"{request.scenario} codes are sent by identity only", code=ErrorCode.forbidden
        )
    return await issue_code(verification, uow, request)


async def issue_code(
    verification: VerificationService, uow: UnitOfWork, request: v1.SendCode
) -> v1.CodeSent:
    """Identity's send, any scenario (on the internal exchange, see `v1.issue_code`)."""
    send_to = await verification.reachable(request.send_to, request.channel)
    scenario = request.scenario.value
    code = domain.generate_code()
    digest = domain.digest(verification.settings.code_key, send_to, scenario, code)
    service = verification.service
    # The code commits only once the broker confirmed its delivery (the publish is inside the
    # transaction, by design): a send that never reached a channel leaves no code behind to be
    # checked, to hold the cooldown or to count toward the hourly cap, and a caller that got no
    # reply can send again at once.
    async with uow.transaction() as con:
        issued = await store.codes.issue_code(
            con, send_to, request.scenario, digest, verification.policy
        )
        if issued.retry_after is not None:
            raise domain.rate_limited(issued.retry_after)
        assert issued.expires_at is not None, "issue_code sets it whenever it issues"
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
            with work.network_inside("the code commits only once its delivery is confirmed"):
                async with asyncio.timeout(verification.settings.rpc_timeout_s):
                    await service.publisher.publish(
                        service.topology.delivery,
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
        return await uow.commit(
            v1.CodeSent(
                expires_at=expires_at,
                resend_after=issued.issued_at + verification.policy.resend_cooldown,
            )
        )


async def check_code(
    verification: VerificationService, uow: UnitOfWork, request: v1.CheckCode
) -> v1.CodeChecked:
    """The public check: not for the codes identity redeems (sign-in, second factor, account
    recovery), which are refused before the code is looked at, so nobody but identity can
    learn one is right or spend its attempts."""
    if request.scenario in v1.REDEEMED_BY_IDENTITY:
        raise VerificationError(
            f"{request.scenario} codes are redeemed by identity only",
            code=ErrorCode.forbidden,
        )
    return await redeem_code(verification, uow, request)


async def redeem_code(
    verification: VerificationService, uow: UnitOfWork, request: v1.CheckCode
) -> v1.CodeChecked:
    """Identity's check, any scenario (on the internal exchange, see `v1.redeem_code`)."""
    send_to = verification.recipient(request.send_to)
    scenario = request.scenario.value
    digest = domain.digest(verification.settings.code_key, send_to, scenario, request.code)
    pool = verification.service.pool
    domain.judge(await store.codes.check_and_consume(pool, send_to, scenario, digest))
    return v1.CodeChecked()
