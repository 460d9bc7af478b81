"""Deregister, and the user's properties (seed 004)."""

from typing import Annotated, Any

from pydantic import Field

from contracts.envelope import Contract
from contracts.errors import ErrorCode
from contracts.events.v1 import ContactType
from contracts.identity.v1.commands import CODE_ERRORS, SESSION_ERRORS, STEP_UP_ERRORS, command
from contracts.identity.v1.fields import (
    PROPERTY_NAME_MAX,
    Password,
    Properties,
    PropertyName,
    StepUpPassword,
    Token,
)
from contracts.identity.v1.views import Done
from contracts.verification.v1 import Code


class Deregister(Contract):
    """Exactly one of password, code (scenario `deregister`, sent to `contact_type`, by
    default the email if bound, else the phone). Deletes all of the user's data."""

    token: Token
    password: Password | None = None
    code: Code | None = None
    contact_type: ContactType | None = None


class GetProperties(Contract):
    token: Token
    names: list[Annotated[str, Field(min_length=1, max_length=PROPERTY_NAME_MAX)]] | None = Field(
        None, max_length=1000, description="Only these properties; all when omitted."
    )


class PropertiesResult(Contract):
    properties: dict[str, Any]


class GetProperty(Contract):
    """Monaca `getProperty`: one property of the signed-in user."""

    token: Token
    name: PropertyName


class PropertyValue(Contract):
    value: Any = Field(None, description="`null` when the user has no such property.")


class SaveProperty(Contract):
    """Monaca `saveProperty`: set one property (`null` removes it). The result holds every
    property after the update, as `save_properties` does."""

    token: Token
    name: PropertyName
    value: Any = Field(examples=["John"])
    password: StepUpPassword = None


class SaveProperties(Contract):
    """Partial update: the given keys are set, a `null` value removes its key, other keys
    stay. The result holds every property after the update."""

    token: Token
    properties: Properties
    password: StepUpPassword = None


deregister = command(
    "deregister",
    Deregister,
    Done,
    "Delete the signed-in user and all their data, with the password or a code.",
    *SESSION_ERRORS,
    ErrorCode.invalid_credentials,
    *CODE_ERRORS,
)
get_properties = command(
    "get_properties",
    GetProperties,
    PropertiesResult,
    "The signed-in user's properties.",
    *SESSION_ERRORS,
)
save_properties = command(
    "save_properties",
    SaveProperties,
    PropertiesResult,
    "Set or remove some of the signed-in user's properties.",
    *SESSION_ERRORS,
    *STEP_UP_ERRORS,
)
get_property = command(
    "get_property",
    GetProperty,
    PropertyValue,
    "One property of the signed-in user.",
    *SESSION_ERRORS,
)
save_property = command(
    "save_property",
    SaveProperty,
    PropertiesResult,
    "Set or remove one property of the signed-in user.",
    *SESSION_ERRORS,
    *STEP_UP_ERRORS,
)
