"""Username rules without I/O: the canonical key, the look-alike skeleton, refused characters."""

import unicodedata

import pytest

from gatehouse.errors import InvalidParams
from services.identity import usernames
from services.identity.domain import Identifier, IdKind, one_identifier

FULLWIDTH_ADMIN = "\uff41\uff44\uff4d\uff49\uff4e"


def check(raw: str) -> usernames.Username:
    return usernames.parse(raw, 3, 255)


@pytest.mark.parametrize("spelling", ["admin", "ADMIN", "Admin", FULLWIDTH_ADMIN, "\uff21dmin"])
def test_every_spelling_of_admin_has_the_key_admin(spelling):
    assert usernames.canonical(spelling) == "admin"


def test_the_key_is_case_folded_not_lower_cased():
    assert usernames.canonical("STRASSE") == usernames.canonical("Stra\u00dfe") == "strasse"
    assert usernames.canonical("\u03a3\u03bf\u03c6\u03b9\u03b1") == "\u03c3\u03bf\u03c6\u03b9\u03b1"


def test_the_key_is_stable():
    for raw in ("Stra\u00dfe", FULLWIDTH_ADMIN, "\u01f0", "\u1e9e", "\ufb01x", "\u2160"):
        key = usernames.canonical(raw)
        assert usernames.canonical(key) == key
        assert unicodedata.is_normalized("NFKC", key)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("admin", "\u0430dmin"),  # Cyrillic a
        ("admin", "\u0410DMIN"),  # Cyrillic A, upper case
        ("admin", FULLWIDTH_ADMIN),
        ("Iris", "lris"),  # capital I is drawn like small l
        ("iris", "lris"),  # ...and i is I in another case
        ("bob", "b0b"),
        ("modern", "rnodern"),
        ("paypal", "\u0440\u0430\u0443\u0440\u0430l"),  # Cyrillic er, a, u
    ],
)
def test_look_alikes_share_a_skeleton(a, b):
    assert usernames.skeleton(a) == usernames.skeleton(b)


@pytest.mark.parametrize(("a", "b"), [("admin", "admins"), ("bob", "rob"), ("ada", "adam")])
def test_different_names_have_different_skeletons(a, b):
    assert usernames.skeleton(a) != usernames.skeleton(b)


def test_every_spelling_of_one_key_has_one_skeleton():
    spellings = ["admin", "ADMIN", "Admin", "aDmIn", FULLWIDTH_ADMIN]
    assert len({usernames.skeleton(s) for s in spellings}) == 1


def test_a_new_username_is_stored_in_nfkc_with_its_case():
    name = check("\uff21da")
    assert (name.display, name.key) == ("Ada", "ada")
    assert name.skeleton == usernames.skeleton("ada")


@pytest.mark.parametrize(
    ("hidden", "message"),
    [
        ("\u200d", "invisible"),  # Cf, zero-width joiner
        ("\u200b", "invisible"),  # Cf, zero-width space
        ("\u202e", "bidirectional"),  # right-to-left override
        ("\u2067", "bidirectional"),  # right-to-left isolate
        ("\u061c", "bidirectional"),  # Arabic letter mark
        ("\u0000", "control"),  # Cc
        ("\u007f", "control"),  # Cc
        ("\ue000", "private-use"),  # Co
        ("\U000f0000", "private-use"),  # Co, plane 15
        ("\ud800", "control"),  # Cs, a lone surrogate
        ("\U000e0080", "unassigned"),  # Cn
        ("\u034f", "invisible"),  # combining grapheme joiner
        ("\u3164", "invisible"),  # Hangul filler (Lo)
        ("\ufe0f", "invisible"),  # variation selector (Mn)
        ("\u2800", "invisible"),  # braille blank (So)
        ("\u2029", "spaces"),  # Zp
        ("\u2028", "spaces"),  # Zl
        ("\u00a0", "spaces"),  # Zs
        ("\u3000", "spaces"),  # Zs
        ("\u00a8", "spaces"),  # NFKC makes it a space and a combining diaeresis
    ],
)
def test_invisible_control_bidi_and_space_characters_are_refused(hidden, message):
    with pytest.raises(InvalidParams, match=message) as raised:
        check(f"ad{hidden}min")
    assert raised.value.details["fields"][0]["field"] == "username"


def test_lengths_count_the_stored_form():
    with pytest.raises(InvalidParams, match="at most 255"):
        check("\u3392" * 100)  # one character each (a squared MHz), three once normalised
    with pytest.raises(InvalidParams, match="at least 3"):
        check("ab")
    assert check("\u00e9ve").display == "\u00e9ve"  # combining marks are letters' accents
    assert check("e\u0301ve").display == "\u00e9ve"


def test_an_email_address_and_non_latin_scripts_are_valid_usernames():
    assert check("ada@example.com").key == "ada@example.com"
    assert check("\u5f20\u4f1f\u660e").key == "\u5f20\u4f1f\u660e"
    assert check("\u0410\u043d\u043d\u0430").key == "\u0430\u043d\u043d\u0430"


def test_a_sign_in_identifier_is_the_key_and_so_is_its_throttle_key():
    ident = one_identifier(FULLWIDTH_ADMIN, None, None, None)
    assert ident == Identifier(IdKind.username, "admin")
    assert ident.throttle_key == one_identifier("ADMIN", None, None, None).throttle_key
    assert ident.throttle_key == "username:admin"
