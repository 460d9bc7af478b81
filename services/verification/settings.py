"""Verification's settings: codes, their limits and custom channels, on top of what every
service reads (`services.runtime.settings.Settings`)."""

from functools import cached_property

from pydantic import Field, SecretStr

from services.runtime.settings import Settings


class VerificationSettings(Settings):
    # codes ---------------------------------------------------------------------------------
    code_hmac_key: SecretStr | None = Field(
        None,
        description="Server key of the HMAC-SHA256 under which codes are stored; verification "
        "only, required in prod.",
    )
    code_max_attempts: int = Field(5, description="Wrong attempts before a code is void.")
    code_resend_cooldown_s: int = Field(
        60, description="Seconds before a new code may be sent to the same recipient and scenario."
    )

    # send caps per scenario class (issue 22) -----------------------------------------------
    code_hourly_cap: int = Field(
        10,
        ge=1,
        description="Codes per recipient per hour in each scenario class (`second_factor`: "
        "two_factor; `sign_in`: login, reset_password; `account`: the others), unless the "
        "class's own cap is set.",
    )
    code_hourly_cap_second_factor: int | None = Field(
        None,
        ge=1,
        description="Hourly cap per recipient of two_factor codes; unset: "
        "`GATEHOUSE_CODE_HOURLY_CAP`.",
    )
    code_hourly_cap_sign_in: int | None = Field(
        None,
        ge=1,
        description="Hourly cap per recipient of login and reset_password codes together; "
        "unset: `GATEHOUSE_CODE_HOURLY_CAP`.",
    )
    code_hourly_cap_account: int | None = Field(
        None,
        ge=1,
        description="Hourly cap per recipient of register, bind, verify_contact, unbind and "
        "deregister codes together; unset: `GATEHOUSE_CODE_HOURLY_CAP`.",
    )

    # custom channels -----------------------------------------------------------------------
    channel_forget_after_s: int = Field(
        3600,
        gt=0,
        description="Verification forgets a custom channel nobody announced for this long "
        "(checked hourly).",
    )
    channel_max: int = Field(
        50,
        ge=1,
        description="Custom channels verification keeps per namespace; a new name beyond is "
        "refused (`invalid_operation`, logged), a known one always renews.",
    )

    def given_secrets(self) -> dict[str, SecretStr | None]:
        return {**super().given_secrets(), "GATEHOUSE_CODE_HMAC_KEY": self.code_hmac_key}

    @cached_property
    def code_key(self) -> bytes:
        """HMAC key of verification codes."""
        return self.secret(self.code_hmac_key, "GATEHOUSE_CODE_HMAC_KEY", "code-hmac-key", "")
