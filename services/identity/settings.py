"""Identity's settings: sign-in rules, sessions, password reset, hooks, two-factor login and
access tokens, on top of what every service reads (`services.runtime.settings.Settings`)."""

from enum import StrEnum
from functools import cached_property
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from contracts.identity.v1 import PASSWORD_MAX, USERNAME_MAX
from services.runtime import keys
from services.runtime.settings import Mode, Settings

# OWASP's argon2id baseline: 19 MiB and 2 iterations (1 lane). The defaults, and the floor of
# prod mode unless `password_hash_below_baseline`.
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_ITERATIONS = 2


class MfaPolicy(StrEnum):
    off = "off"
    optional = "optional"
    required = "required"


# User fields an operator may add to access tokens (GATEHOUSE_ACCESS_TOKEN_CLAIMS).
AccessTokenClaim = Literal[
    "username",
    "email",
    "email_verified",
    "phone",
    "phone_verified",
    "app_metadata",
    "user_metadata",
]

HookPolicy = Literal["fail_closed", "fail_open"]


class IdentitySettings(Settings):
    # accounts and sessions -----------------------------------------------------------------
    username_min_length: int = Field(
        3, ge=1, le=USERNAME_MAX, description="Shortest username register accepts."
    )
    password_min_length: int = Field(
        8, ge=1, le=PASSWORD_MAX, description="Shortest new password accepted."
    )
    password_common_check: bool = Field(
        True,
        description="Refuse a new password found (case-insensitively) in the list of 143,823 "
        "common and breached passwords (`password_too_common`).",
    )
    password_hash_workers: int = Field(0, ge=0, description="Hashing threads; 0 = CPU cores.")
    password_hash_memory_kib: int = Field(
        ARGON2_MEMORY_KIB,
        ge=8,
        description="argon2id memory per password hash, in KiB (OWASP's baseline: 19 MiB); "
        "prod refuses less unless `GATEHOUSE_PASSWORD_HASH_BELOW_BASELINE`.",
    )
    password_hash_iterations: int = Field(
        ARGON2_ITERATIONS,
        ge=1,
        description="argon2id iterations per password hash (OWASP's baseline: 2); prod refuses "
        "fewer unless `GATEHOUSE_PASSWORD_HASH_BELOW_BASELINE`.",
    )
    password_hash_below_baseline: bool = Field(
        False,
        description="Let prod hash passwords more cheaply than OWASP's baseline: for test "
        "suites, which run in prod mode and hash thousands of passwords; never in production.",
    )
    auto_login: bool = Field(
        True,
        description="Seed 004's auto-login: a sign-in with `remember` gets a remember token "
        "that `auto_login` exchanges for a session. `false`: no remember tokens, and "
        "`auto_login` is `invalid_operation` (13).",
    )
    session_ttl_s: int = Field(86400, ge=1, description="Sliding: each use extends it.")
    session_absolute_ttl_s: int = Field(30 * 86400, ge=1, description="Hard session lifetime.")
    remember_ttl_s: int = Field(
        30 * 86400,
        ge=1,
        description="Lifetime of one remember token (each use rotates it; its chain's end "
        "caps it).",
    )
    remember_chain_ttl_s: int = Field(
        90 * 86400,
        ge=1,
        description="Absolute lifetime of a remember-token chain, from the sign-in that proved "
        "its factors; rotating the token never extends it.",
    )
    reauth_window_s: int = Field(
        300,
        ge=0,
        description="How long a sign-in's proof counts as recent for what takes an account "
        "(MFA off, contacts, reset mail); older sessions must give the password.",
    )

    # failed sign-ins -----------------------------------------------------------------------
    login_max_failures: int = Field(
        10,
        ge=1,
        description="Failed password sign-ins per account and window before `rate_limited`.",
    )
    login_failure_window_s: int = Field(
        900, ge=1, description="Window of the per-account failed sign-in limit."
    )
    login_known_client_ttl_s: int = Field(
        90 * 86400,
        ge=1,
        description="How long a client_ip the owner proved a factor from keeps its own lane of "
        "failed sign-ins, apart from everyone else's.",
    )
    login_spray_window_s: int = Field(
        60, ge=1, description="Window of the per-client_ip, per-caller and global limits."
    )
    login_max_failures_per_client_ip: int = Field(
        30,
        ge=1,
        description="Failed password sign-ins per `client.client_ip` (IPv6: per /64) and window; "
        "then `rate_limited`.",
    )
    login_max_failures_per_caller: int = Field(
        300,
        ge=1,
        description="Failed password sign-ins per calling AMQP user (`user_id`) and window; then "
        "`rate_limited`.",
    )
    login_max_failures_global: int = Field(
        1200,
        ge=1,
        description="Failed password sign-ins of every account together per window; then "
        "`rate_limited`.",
    )

    # password reset (seed 004) -------------------------------------------------------------
    reset_token_ttl_s: int = Field(
        3600, ge=1, description="Lifetime of a password reset token (single use)."
    )
    reset_token_email_property: str = Field(
        "email",
        description="Where a reset mail goes by default: `email` is the bound email, `username` "
        "(or seed 004's `_username`) the username when it is an email address, any other name "
        "that user property; the mail goes only to the account's verified email.",
    )
    reset_mail_properties: list[str] = Field(
        default_factory=lambda: ["email", "username", "_username"],
        description="Address fields a caller may name in `email_property_name` (JSON list), "
        "besides GATEHOUSE_RESET_TOKEN_EMAIL_PROPERTY; whichever is named, the mail goes "
        "only to the account's verified email.",
    )
    reset_mail_cap_per_identifier: int = Field(
        5,
        ge=1,
        description="Reset requests an hour per identifier, known or not; then `rate_limited`.",
    )
    reset_mail_cap_per_account: int = Field(
        5, ge=1, description="Reset mails an hour per account; beyond, requests send nothing."
    )

    # hooks (seed 002) ----------------------------------------------------------------------
    hook_pre_registration_timeout_s: float = Field(
        2.0, gt=0, description="How long one pre-registration hook may take to reply."
    )
    hook_post_login_timeout_s: float = Field(
        2.0, gt=0, description="How long one post-login hook may take to reply."
    )
    hook_pre_registration_policy: HookPolicy = Field(
        "fail_closed", description="A hook that times out or replies garbage: fail the flow?"
    )
    hook_post_login_policy: HookPolicy = Field(
        "fail_open", description="A hook that times out or replies garbage: fail the sign-in?"
    )
    hook_forget_after_s: int = Field(
        3600,
        gt=0,
        description="Identity forgets a hook no worker announced for this long (checked hourly).",
    )
    hook_max_per_trigger: int = Field(
        20, ge=1, description="Hooks identity keeps per trigger; a new name beyond is refused."
    )

    # two-factor login (seed 003) -----------------------------------------------------------
    mfa: MfaPolicy = Field(
        MfaPolicy.off,
        description="Two-factor login: `off`, `optional` (per account, `identity.set_mfa.v1`), "
        "`required` (every account).",
    )
    mfa_token_ttl_s: int = Field(300, ge=1, description="Lifetime of a login's mfa token.")
    mfa_max_attempts: int = Field(5, ge=1, description="Code attempts per mfa token.")
    mfa_email: bool = Field(
        False,
        description="Offer a verified email as a second factor. Seed 003 offers it only where "
        "the application requires users to verify their email address: turn it on where "
        "yours does; off, codes go to a verified phone only.",
    )
    totp_issuer: str = Field(
        "Gatehouse",
        min_length=1,
        max_length=100,
        description="The issuer an authenticator app shows beside the account name "
        "(`otpauth://` URI of `identity.enroll_totp.v1`).",
    )
    totp_key: SecretStr | None = Field(
        None,
        description="Seals the secrets of authenticator apps (TOTP) at rest; required in prod "
        "for `identity.enroll_totp.v1` and TOTP sign-ins.",
    )

    # access tokens -------------------------------------------------------------------------
    access_tokens: Literal["off", "jwt"] = Field(
        "off",
        description="`jwt`: every reply that carries a session also carries a signed access "
        "token other services verify on their own.",
    )
    access_token_alg: Literal["EdDSA", "ES256"] = Field(
        "EdDSA",
        description="Signature algorithm of new signing keys (Ed25519 or P-256); a change takes "
        "effect as a rotation at the next start.",
    )
    access_token_ttl_s: int = Field(
        300,
        ge=1,
        le=86400,
        description="Access token lifetime (at most a day): without a deny-list a token stays "
        "valid until it expires.",
    )
    access_token_issuer: str = Field(
        "gatehouse", min_length=1, description="The `iss` claim verifiers expect."
    )
    access_token_audience: list[str] = Field(
        default_factory=lambda: ["api"],
        min_length=1,
        description="The `aud` claim (JSON list): the services the tokens are meant for.",
    )
    access_token_claims: list[AccessTokenClaim] = Field(
        default_factory=list,
        description="User fields to add to each access token (JSON list); none by default.",
    )
    signing_key_secret: SecretStr | None = Field(
        None,
        description="Seals the private halves of the signing keys at rest; required in prod "
        "with `GATEHOUSE_ACCESS_TOKENS=jwt`.",
    )
    signing_key_reload_s: float = Field(
        60.0,
        gt=0,
        description="How often a replica rereads the signing keys, and the JWK Set's HTTP "
        "`max-age`; a rotated key signs only after twice this, once every replica publishes it.",
    )

    @model_validator(mode="after")
    def _refuse_weak_password_hashing(self) -> "IdentitySettings":
        weaker = (
            self.password_hash_memory_kib < ARGON2_MEMORY_KIB
            or self.password_hash_iterations < ARGON2_ITERATIONS
        )
        if weaker and self.mode is Mode.prod and not self.password_hash_below_baseline:
            raise ValueError(
                f"argon2id below OWASP's baseline ({ARGON2_MEMORY_KIB} KiB, "
                f"{ARGON2_ITERATIONS} iterations) is refused when GATEHOUSE_MODE=prod"
            )
        return self

    @property
    def reset_properties(self) -> frozenset[str]:
        """Every address field reset mail may be sent by: the default and those a caller may
        name."""
        return frozenset({self.reset_token_email_property, *self.reset_mail_properties})

    def given_secrets(self) -> dict[str, SecretStr | None]:
        return {
            **super().given_secrets(),
            "GATEHOUSE_SIGNING_KEY_SECRET": self.signing_key_secret,
            "GATEHOUSE_TOTP_KEY": self.totp_key,
        }

    @cached_property
    def signing_seal_key(self) -> bytes:
        """AES-256-GCM key sealing the private halves of access token signing keys, derived
        from `GATEHOUSE_SIGNING_KEY_SECRET`."""
        secret = self.secret(
            self.signing_key_secret,
            "GATEHOUSE_SIGNING_KEY_SECRET",
            "signing-key-secret",
            " and GATEHOUSE_ACCESS_TOKENS=jwt",
        )
        return keys.derive(secret, "gatehouse signing key seal v1")

    @cached_property
    def totp_seal_key(self) -> bytes:
        """AES-256-GCM key sealing authenticator app secrets, derived from
        `GATEHOUSE_TOTP_KEY`."""
        secret = self.secret(self.totp_key, "GATEHOUSE_TOTP_KEY", "totp-key", "")
        return keys.derive(secret, "gatehouse totp seal v1")

    @cached_property
    def recovery_code_key(self) -> bytes:
        """HMAC key of the digests recovery codes are stored as, derived from
        `GATEHOUSE_TOTP_KEY`: the codes stand in for the authenticator app, and a new key
        voids both alike."""
        secret = self.secret(self.totp_key, "GATEHOUSE_TOTP_KEY", "totp-key", "")
        return keys.derive(secret, "gatehouse recovery code mac v1")

    @cached_property
    def login_client_key(self) -> bytes:
        """HMAC key of the digests known sign-in clients are stored as, derived from
        identity's own GATEHOUSE_REPLY_KEY (identity holds no code key)."""
        return keys.derive(self.reply_root, "gatehouse identity login client v1")
