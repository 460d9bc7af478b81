"""The cost of the common-password check per new password, against a bare `set` lookup of the
same string measured in the same run (the floor any list check pays).

    python3 -m benchmarks.common_passwords  # last line: {"name", "ours", "reference", "ratio"}

`ours` is `domain.check_not_common` with the shipped list (a `str.casefold()` and the lookup),
in microseconds per call; `reference` is `s in a_set` alone, over the same passwords. The whole
`domain.check_password` (with the length and no-space rules), a refusal, and loading the list
(once per process) are printed too.
"""

import contextlib
import json
import time
from datetime import timedelta
from timeit import Timer

from services.identity import domain
from services.identity.common_passwords import common_passwords, shipped_passwords
from services.identity.domain import IdentityError

CALLS = 200_000
ROUNDS = 5
SAMPLES = ["violet-anchor-toffee-71", "fresh-password-3", "correct-horse-1", "Tr0ub4dor&3"]


def main() -> None:
    started = time.perf_counter()
    common = common_passwords()
    loaded_ms = (time.perf_counter() - started) * 1000
    policy = domain.Policy(
        username_min=3,
        password_min=8,
        session_ttl=timedelta(days=1),
        session_absolute_ttl=timedelta(days=30),
        remember_ttl=timedelta(days=30),
        auto_login=True,
        max_failures=10,
        failure_window=timedelta(minutes=15),
        reset_token_ttl=timedelta(hours=1),
        common_passwords=common,
    )
    bare = set(shipped_passwords())
    passwords = [p for p in SAMPLES if p.casefold() not in common]

    def ours() -> None:
        for password in passwords:
            domain.check_not_common(password, policy)

    def whole() -> None:
        for password in passwords:
            domain.check_password(password, policy)

    def reference() -> None:
        for password in passwords:
            _ = password in bare

    def refused() -> None:
        with contextlib.suppress(IdentityError):
            domain.check_password("Password1", policy)

    per_call = len(passwords)
    ours_us = min(Timer(ours).repeat(ROUNDS, CALLS // per_call)) / CALLS * 1e6
    whole_us = min(Timer(whole).repeat(ROUNDS, CALLS // per_call)) / CALLS * 1e6
    ref_us = min(Timer(reference).repeat(ROUNDS, CALLS // per_call)) / CALLS * 1e6
    refused_us = min(Timer(refused).repeat(ROUNDS, CALLS // 10)) / (CALLS // 10) * 1e6
    print(f"list: {len(common)} passwords, loaded in {loaded_ms:.0f} ms")
    print(f"check_not_common (accepted): {ours_us:.3f} us/call")
    print(f"check_password, every rule (accepted): {whole_us:.3f} us/call")
    print(f"check_password (refused, raising): {refused_us:.3f} us/call")
    print(f"bare set lookup: {ref_us:.3f} us/call")
    result = {
        "name": "common_passwords",
        "ours": round(ours_us, 3),
        "reference": round(ref_us, 3),
        "ratio": round(ours_us / ref_us, 1),
        "unit": "us/call",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
