"""Where a password reset token may be mailed (seed 004's `sendPasswordResetToken` options,
issue 22 point 4). Pure rules: the operator's lists decide what a caller may name, and the
account's verified email is the only address a token goes to."""

from collections.abc import Collection
from typing import Any

from gatehouse.errors import InvalidParams
from services.shared.contacts import normalize_email


def check(
    template: str | None,
    email_property: str | None,
    *,
    templates: Collection[str],
    properties: Collection[str],
) -> None:
    """A caller names a reset mail's template and address field (seed 004's `templateName`,
    `emailPropertyName`) only from the operator's lists: a caller that could pick either
    could send the token anywhere, in any words."""
    if template is not None and template not in templates:
        raise InvalidParams("template_name", "not a reset mail template the operator allows")
    if email_property is not None and email_property not in properties:
        raise InvalidParams(
            "email_property_name", "not a reset mail address field the operator allows"
        )


def address(
    name: str,
    email: str | None,
    email_verified: bool,
    username: str | None,
    properties: dict[str, Any],
) -> str | None:
    """Where a reset token is mailed (seed 004's `emailPropertyName`): the address the named
    field holds (`email`: the bound email; `username` or the seed's `_username`: the username
    as an address; any other name: that user property), but only when it is the account's
    verified email. A username or a property is never proved by itself, and a reset token
    is the account: it goes nowhere unproved. None when there is no such address."""
    if email is None or not email_verified:
        return None
    if name == "email":
        value: object = email
    elif name in ("username", "_username"):
        value = username
    else:
        value = properties.get(name)
    if not isinstance(value, str):
        return None
    try:
        return email if normalize_email(value, name) == email else None
    except InvalidParams:
        return None
