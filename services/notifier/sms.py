"""SMS over an HTTP provider with httpx.

`SmsProvider` is the whole interface: another provider is one class with a `send` that
raises `TransientFailure` / `PermanentFailure` (use `http_failure` for the status mapping).
"""

from typing import Protocol

import httpx

from services.notifier.domain import Job, TransientFailure, http_failure
from services.runtime import work


class SmsProvider(Protocol):
    async def send(self, job: Job, body: str) -> None: ...

    async def close(self) -> None: ...


class TwilioSms:
    """Twilio's Messages API, or anything that speaks it (form POST, basic auth)."""

    def __init__(
        self, base_url: str, account_sid: str, auth_token: str, sender: str, timeout_s: float
    ) -> None:
        self.path = f"/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.sender = sender
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            auth=httpx.BasicAuth(account_sid, auth_token),
            timeout=timeout_s,
            headers={"Accept": "application/json"},
        )

    async def send(self, job: Job, body: str) -> None:
        work.forbid_network("an SMS provider call")
        try:
            response = await self.client.post(
                self.path, data={"To": job.to, "From": self.sender, "Body": body}
            )
        except httpx.TransportError as exc:
            raise TransientFailure(f"sms connection: {type(exc).__name__}") from None
        if response.is_success:
            return
        # The provider's error body can echo the message; only the status is kept.
        raise http_failure(response.status_code, response.headers.get("Retry-After"))

    async def close(self) -> None:
        await self.client.aclose()
