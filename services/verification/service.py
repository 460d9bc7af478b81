"""`VerificationService`: what every verification flow is given: the code policy read from
the settings, the custom channel registry, and the running `Service` (pool, publisher)."""

from datetime import timedelta

from gatehouse._recipients import ContactKind
from gatehouse.errors import InvalidParams
from services.runtime.service import Service
from services.runtime.settings import narrow
from services.shared.contacts import normalize
from services.verification import domain
from services.verification.channels import Channels
from services.verification.settings import VerificationSettings


def policy_from(settings: VerificationSettings) -> domain.Policy:
    return domain.Policy(
        ttl=timedelta(seconds=settings.code_ttl_s),
        max_attempts=settings.code_max_attempts,
        resend_cooldown=timedelta(seconds=settings.code_resend_cooldown_s),
        hourly_caps={
            domain.CodeClass.second_factor: settings.code_hourly_cap_second_factor
            or settings.code_hourly_cap,
            domain.CodeClass.sign_in: settings.code_hourly_cap_sign_in or settings.code_hourly_cap,
            domain.CodeClass.account: settings.code_hourly_cap_account or settings.code_hourly_cap,
        },
    )


class VerificationService:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.settings = narrow(service.settings, VerificationSettings)
        self.policy = policy_from(self.settings)
        self.channels = Channels(service)
        self.log = service.log

    def recipient(self, raw: str) -> str:
        """`send_to` normalised: one spelling per recipient in every table."""
        return normalize(raw, "send_to", self.settings.phone_region)[1]

    async def reachable(self, raw: str, channel: str) -> str:
        """The normalised recipient, refused before any code exists if `channel` cannot
        reach it."""
        kind, send_to = normalize(raw, "send_to", self.settings.phone_region)
        reaches: ContactKind | None = await self.channels.reaches(channel)
        if reaches is not None and reaches is not kind:
            raise InvalidParams("send_to", f"needs {reaches.value} for the {channel} channel")
        return send_to
