"""The two kinds of recipient and the built-in delivery channels that reach them.

Kept apart from the normalisation in `services/shared/contacts.py` (phonenumbers,
email-validator): the custom channel SDK needs these names and nothing else.
"""

from enum import StrEnum
from typing import Literal


class ContactKind(StrEnum):
    email = "email"
    phone = "phone"


# The built-in delivery channels, served by the notifier.
Channel = Literal["email", "sms"]

# The one mapping from a delivery channel's kind to the recipients it reaches. The built-in
# channels `email` and `sms` are named after their kind; a custom channel declares its kind
# (`verification.register_channel.v1`) or none, and is then sent any recipient.
CHANNEL_REACHES: dict[str, ContactKind] = {"email": ContactKind.email, "sms": ContactKind.phone}


def default_channel(kind: str) -> str:
    """The built-in channel a code for a contact of this kind goes through by default."""
    return next(name for name, reaches in CHANNEL_REACHES.items() if reaches == kind)


def kind_of(raw: str) -> ContactKind:
    return ContactKind.email if "@" in raw else ContactKind.phone
