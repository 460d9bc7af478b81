"""What a security event carries so that the account's owner can be told about it: how to
reach them and from which client the change came. A notifier needs nothing else, and never
calls identity for it."""

from typing import Annotated

from pydantic import Field
from pydantic.config import JsonDict

from contracts.envelope import Contract
from contracts.hooks.v1 import Client

LOCALE_PATTERN = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"


class AccountOwner(Contract):
    """How to reach the account's owner, as the account is once the change is made."""

    email: str | None = Field(None, description="Normalised.", examples=["ada@example.com"])
    email_verified: bool = False
    phone: str | None = Field(None, description="E.164.", examples=["+447911123456"])
    phone_verified: bool = False
    locale: str | None = Field(
        None,
        pattern=LOCALE_PATTERN,
        description="The user's `locale` property (a BCP 47 tag) when it holds one.",
        examples=["fr"],
    )


Owner = Annotated[
    AccountOwner | None,
    Field(
        description="How to reach the account's owner (absent from events published before "
        "this field existed).",
    ),
]

SignedFrom = Annotated[
    Client | None,
    Field(
        description="The end user's client (`client_ip`, `user_agent`), when the command's "
        "caller passed `client`.",
    ),
]

OWNER_EXAMPLE: JsonDict = {
    "email": "ada@example.com",
    "email_verified": True,
    "phone": None,
    "phone_verified": False,
    "locale": "fr",
}
CLIENT_EXAMPLE: JsonDict = {"client_ip": "203.0.113.7", "user_agent": "Mozilla/5.0"}
