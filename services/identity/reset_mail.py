"""Password reset mails, made off the reply path.

`send_password_reset_token` only counts the request against its identifier and queues it:
one statement, the same whether or not the identifier names an account, so the reply takes
the same time either way. This worker takes queued requests and, for each that names an
account within its hourly mail cap and with a verified address to mail, stores a token and
writes the mail to the transactional outbox, all in the transaction that takes the request:
a crash leaves the request queued, never a token without its mail or a mail without its
token. An email or phone names an account here only where that account verified it, and the
mail goes only to its verified email (services/identity/claims.py, `reset_destinations.address`).
The mail is `notifier.send_security.v1`, on the internal exchange: the reset token template
is one callers cannot send.
"""

import asyncio
import logging

from contracts.notifier import v1 as notifier
from services.identity import domain, reset_destinations, store, throttling
from services.identity.domain import Identifier, IdKind
from services.identity.service import IdentityService
from services.runtime import outbox

log = logging.getLogger("gatehouse.identity.reset_mail")

BATCH = 50
# A reset mail leaves at most this long after its request (plus the outbox relay's poll).
POLL_S = 0.25
MAX_BACKOFF_S = 30.0


async def mail_queued(identity: IdentityService) -> int:
    """Handle one batch of queued requests; returns how many it took."""
    settings = identity.settings
    async with identity.pool.acquire() as con, con.transaction():
        queued = await store.resets.take_queued(con, BATCH)
        for request in queued:
            ident = Identifier(IdKind(request.kind), request.value)
            user = await store.resets.count_account_request(
                con, ident, throttling.RESET_REQUEST_WINDOW
            )
            if user is None or user.account_requests > settings.reset_mail_cap_per_account:
                continue  # nobody, or an account that had its mails this hour: nothing to say
            if user.disabled:
                continue  # its token could not be used, and a disable voids reset tokens
            name = request.email_property or settings.reset_token_email_property
            address = reset_destinations.address(
                name,
                user.email,
                user.email_verified,
                user.username,
                store.rows.properties_of(user),
            )
            if address is None:
                continue
            token = domain.new_token()
            send = notifier.Send(
                channel=notifier.Channel.email,
                to=address,
                template=request.template or settings.reset_token_template,
                data={"password_reset_token": token},
            )
            await store.resets.store_reset_token(
                con,
                user.id,
                domain.token_digest(token),
                identity.policy.reset_token_ttl,
                outbox.command_row(notifier.send_security, send),
            )
    return len(queued)


async def run(identity: IdentityService) -> None:
    """Mail queued requests until cancelled; a failed round is logged once and retried."""
    backoff = POLL_S
    failing = False
    while True:
        try:
            while await mail_queued(identity) == BATCH:
                pass
            if failing:
                log.info("reset mails are made again")
            backoff, failing = POLL_S, False
        except Exception as exc:  # the database went away: wait, retry
            if not failing:
                log.warning("reset mails wait: %s", type(exc).__name__)
            backoff, failing = min(backoff * 2, MAX_BACKOFF_S), True
        await asyncio.sleep(backoff)
