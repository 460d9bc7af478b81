"""The user lifecycle events identity publishes."""

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from contracts.envelope import Contract
from contracts.events.v1.owner import CLIENT_EXAMPLE, OWNER_EXAMPLE, Owner, SignedFrom
from contracts.topology import Event

IDENTITY = "identity"


UserId = Field(description="Public id of the user (never the internal key).", examples=["u_8Zk3"])


# Revocation within an access token's lifetime: a service that must refuse a revoked session's
# access tokens before their `exp` keeps a deny-list of these `sid`s (for the token lifetime).
RevokedSessionIds = Annotated[
    list[str],
    Field(
        default_factory=list,
        description="Public ids of the sessions this revoked: the `sid` claim of their access "
        "tokens, which stay valid until `exp` unless a service denies them.",
        examples=[["s_41Qa", "s_9Xk2"]],
    ),
]


AllSessionsRevoked = Annotated[
    bool,
    Field(
        description="True when every session the user had was revoked (they are all in "
        "`revoked_session_ids`). A session opened by the same command afterwards, as "
        "`reset_password_with_token` does, is not among them.",
        examples=[False],
    ),
]


class ContactType(StrEnum):
    email = "email"
    phone = "phone"


class Contact(Contract):
    type: ContactType
    value: str = Field(description="Normalised email address or E.164 number.")


class UserRegistered(Contract):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "u_8Zk3",
                    "username": "ada",
                    "email": "ada@example.com",
                    "phone": None,
                    "email_verified": True,
                    "phone_verified": False,
                }
            ]
        }
    )

    user_id: str = UserId
    username: str | None = None
    email: str | None = None
    phone: str | None = None
    email_verified: bool = False
    phone_verified: bool = False


class UserLoggedIn(Contract):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"user_id": "u_8Zk3", "method": "email_code", "session_id": "s_41Qa"}]
        }
    )

    user_id: str = UserId
    method: str = Field(
        description="How the user proved who they are.",
        examples=["username_password", "email_code", "remember_token", "password_reset"],
    )
    session_id: str = Field(description="Public id of the new session (not its token).")


class UserLoggedOut(Contract):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "u_8Zk3",
                    "session_id": "s_41Qa",
                    "revoked_session_ids": ["s_41Qa"],
                    "all_sessions_revoked": False,
                }
            ]
        }
    )

    user_id: str = UserId
    session_id: str
    revoked_session_ids: RevokedSessionIds
    all_sessions_revoked: AllSessionsRevoked = False


class UserContactBound(Contract):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "u_8Zk3",
                    "contact": {"type": "phone", "value": "+447911123456"},
                    "verified": True,
                    "owner": {**OWNER_EXAMPLE, "phone": "+447911123456", "phone_verified": True},
                    "client": CLIENT_EXAMPLE,
                }
            ]
        }
    )

    user_id: str = UserId
    contact: Contact
    verified: bool = True
    owner: Owner = None
    client: SignedFrom = None


class UserContactUnbound(Contract):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "u_8Zk3",
                    "contact": {"type": "phone", "value": "+447911123456"},
                    "verified": True,
                    "owner": OWNER_EXAMPLE,
                    "client": CLIENT_EXAMPLE,
                }
            ]
        }
    )

    user_id: str = UserId
    contact: Contact
    verified: bool | None = Field(
        None, description="Whether the contact had been verified (absent from older events)."
    )
    owner: Owner = None
    client: SignedFrom = None


class UserContactVerified(Contract):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"user_id": "u_8Zk3", "contact": {"type": "email", "value": "ada@example.com"}}
            ]
        }
    )

    user_id: str = UserId
    contact: Contact


class UserPasswordChanged(Contract):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "u_8Zk3",
                    "revoked_session_ids": ["s_9Xk2"],
                    "all_sessions_revoked": False,
                    "owner": OWNER_EXAMPLE,
                    "client": CLIENT_EXAMPLE,
                }
            ]
        }
    )

    user_id: str = UserId
    revoked_session_ids: RevokedSessionIds
    all_sessions_revoked: AllSessionsRevoked = False
    owner: Owner = None
    client: SignedFrom = None


class UserPasswordReset(Contract):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "u_8Zk3",
                    "method": "code",
                    "revoked_session_ids": ["s_41Qa", "s_9Xk2"],
                    "all_sessions_revoked": True,
                    "owner": OWNER_EXAMPLE,
                    "client": CLIENT_EXAMPLE,
                }
            ]
        }
    )

    user_id: str = UserId
    method: Literal["code", "token"]
    revoked_session_ids: RevokedSessionIds
    all_sessions_revoked: AllSessionsRevoked = False
    owner: Owner = None
    client: SignedFrom = None


class UserPropertiesUpdated(Contract):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"user_id": "u_8Zk3", "keys": ["nickname", "age"]}]}
    )

    user_id: str = UserId
    keys: list[str] = Field(description="Names of the properties that changed (values omitted).")


class UserDeregistered(Contract):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "u_8Zk3",
                    "username": "ada",
                    "contacts": [{"type": "email", "value": "ada@example.com"}],
                    "revoked_session_ids": ["s_41Qa"],
                    "all_sessions_revoked": True,
                }
            ]
        }
    )

    user_id: str = UserId
    username: str | None = None
    contacts: list[Contact] = Field(
        default_factory=list, description="Every contact the user had, so consumers can purge."
    )
    revoked_session_ids: RevokedSessionIds
    all_sessions_revoked: AllSessionsRevoked = False


user_registered = Event(
    "user.registered", 1, UserRegistered, "A user account was created.", IDENTITY
)


user_logged_in = Event("user.logged_in", 1, UserLoggedIn, "A session was issued.", IDENTITY)


user_logged_out = Event("user.logged_out", 1, UserLoggedOut, "A session was revoked.", IDENTITY)


user_contact_bound = Event(
    "user.contact_bound", 1, UserContactBound, "An email or phone was bound.", IDENTITY
)


user_contact_unbound = Event(
    "user.contact_unbound", 1, UserContactUnbound, "An email or phone was unbound.", IDENTITY
)


user_contact_verified = Event(
    "user.contact_verified", 1, UserContactVerified, "A contact was verified.", IDENTITY
)


user_password_changed = Event(
    "user.password_changed", 1, UserPasswordChanged, "The user changed the password.", IDENTITY
)


user_password_reset = Event(
    "user.password_reset", 1, UserPasswordReset, "The password was reset.", IDENTITY
)


user_properties_updated = Event(
    "user.properties_updated", 1, UserPropertiesUpdated, "Properties were saved.", IDENTITY
)


user_deregistered = Event(
    "user.deregistered", 1, UserDeregistered, "The account and its data were deleted.", IDENTITY
)
