"""How many tries: failed sign-ins per identifier and per account, password reset requests
per identifier. The counting is the database's (one statement per attempt, see
store/credentials.py and store/resets.py); these rules read the counts. No I/O.

Nobody can lock an owner out (issue 22). A per-account limit that refuses the right password
is a lock anyone who knows a username can keep shut, and no delay tells the owner's guess
from an attacker's. So the account's bucket stays (it slows guessing from everywhere else),
and the owner has ways in that a spray cannot block:

- a client the owner proved a factor from (a keyed hash of `client_ip`, IPv6 by /64, kept
  `GATEHOUSE_LOGIN_KNOWN_CLIENT_TTL_S`) has a lane of its own on the account: its failures
  count there only, and no failure elsewhere touches it;
- a code to a verified contact, and a remember token, are not password guesses: no bucket here
  refuses them (verification limits the codes), and a code sign-in makes its client known.

Against spraying one password over many accounts (each try costs an argon2 hash), failed
sign-ins also count per client_ip, per calling AMQP user and all together; over any of those
the attempt is `rate_limited` before any hash. Their counts are attempts, taken back when the
password was right (`store.credentials.refund`).
"""

import hashlib
import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.errors import ErrorCode
from contracts.hooks.v1 import Client
from services.identity.domain import IdentityError, Policy

RESET_REQUEST_WINDOW = timedelta(hours=1)  # the caps on reset mails are per hour


def over_limit(policy: Policy, failures: int, window_start: datetime, now: datetime) -> bool:
    """Whether `failures` (this attempt included) exceed the limit of a live window."""
    return failures > policy.max_failures and window_start + policy.failure_window > now


@dataclass(frozen=True)
class Bucket:
    failures: int  # this attempt included
    window_start: datetime


@dataclass(frozen=True)
class SprayLimits:
    per_client_ip: int
    per_caller: int
    overall: int
    window: timedelta

    def of(self, key: str) -> int:
        if key.startswith(IP):
            return self.per_client_ip
        if key.startswith(CALLER):
            return self.per_caller
        return self.overall


SPRAY = "spray:"
IP, CALLER, GLOBAL = f"{SPRAY}ip:", f"{SPRAY}caller:", f"{SPRAY}global"


def client_network(client_ip: str) -> str:
    """What a limit counts as one client: an IPv4 address, an IPv6 /64 (what one subscriber
    gets: counting single addresses would give them 2**64 budgets), else the text as given."""
    text = client_ip.strip().lower()
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


def client_digest(key: bytes, client: Client | None) -> bytes | None:
    """A keyed hash of the client's network: stored and compared, never the address itself."""
    if client is None or not client.client_ip:
        return None
    return hmac.new(key, client_network(client.client_ip).encode(), hashlib.sha256).digest()


def spray_keys(client: bytes | None, caller: str | None) -> list[str]:
    keys = [GLOBAL]
    if client is not None:
        keys.append(IP + client.hex())
    if caller:
        keys.append(CALLER + caller)
    return keys


def lane_key(user_id: int, client: bytes) -> str:
    """The bucket of a known client of the account (the SQL in store/credentials.py builds the
    same)."""
    return f"user:{user_id}:client:{client.hex()}"


def _retry_after(window_start: datetime, window: timedelta, now: datetime) -> int:
    return max(1, int((window_start + window - now).total_seconds() + 0.999))


def spray_refusal(
    limits: SprayLimits, buckets: Mapping[str, Bucket], now: datetime
) -> IdentityError | None:
    """`rate_limited` when the attempt's client, caller or everyone together has failed too
    often; answered before any hash, whatever the account, so it tells nothing about one."""
    over = [
        _retry_after(b.window_start, limits.window, now)
        for key, b in buckets.items()
        if key.startswith(SPRAY)
        and b.failures > limits.of(key)
        and b.window_start + limits.window > now
    ]
    if not over:
        return None
    return IdentityError(
        "too many failed sign-ins from this client; try again later",
        code=ErrorCode.rate_limited,
        retry_after_s=max(over),
    )


def reauth_throttled(
    policy: Policy, failures: int, window_start: datetime, now: datetime
) -> IdentityError | None:
    """A password or code given to prove it is the owner, beyond the account's limit."""
    if not over_limit(policy, failures, window_start, now):
        return None
    return IdentityError(
        "too many wrong passwords or codes for this account; try again later",
        code=ErrorCode.too_many_attempts,
        retry_after_s=_retry_after(window_start, policy.failure_window, now),
    )


def throttled(
    policy: Policy, failures: int, window_start: datetime, now: datetime
) -> IdentityError | None:
    """The error to answer when the identifier's failures exceed the limit. Only the
    identifier's own bucket answers this way: it exists for unknown identifiers too."""
    if not over_limit(policy, failures, window_start, now):
        return None
    window_end = window_start + policy.failure_window
    return IdentityError(
        "too many failed sign-ins with this identifier; try again later",
        code=ErrorCode.too_many_attempts,
        retry_after_s=max(1, int((window_end - now).total_seconds() + 0.999)),
    )


def reset_throttled(
    cap: int, window: timedelta, requests: int, window_start: datetime, now: datetime
) -> IdentityError | None:
    """Reset requests with one identifier beyond the hourly cap. The bucket exists for
    unknown identifiers too, so this reply says nothing about whether an account exists."""
    window_end = window_start + window
    if requests <= cap or window_end <= now:
        return None
    return IdentityError(
        "too many password reset requests for this identifier; try again later",
        code=ErrorCode.rate_limited,
        retry_after_s=max(1, int((window_end - now).total_seconds() + 0.999)),
    )
