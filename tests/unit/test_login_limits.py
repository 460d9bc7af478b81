"""The pure rules of the sign-in limits (issue 22, point 5): what counts as one client, and
which limit answers."""

from datetime import UTC, datetime, timedelta

from contracts.hooks.v1 import Client
from services.identity import throttling
from services.identity.throttling import Bucket, SprayLimits

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LIMITS = SprayLimits(per_client_ip=5, per_caller=8, overall=100, window=timedelta(seconds=60))


def test_an_ipv6_client_is_its_64_and_a_mapped_ipv4_is_the_ipv4():
    assert throttling.client_network("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert throttling.client_network("2001:DB8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert throttling.client_network("::ffff:203.0.113.7") == "203.0.113.7"
    assert throttling.client_network(" 203.0.113.7 ") == "203.0.113.7"
    assert throttling.client_network("not an address") == "not an address"


def test_the_stored_client_is_a_keyed_hash_never_the_address():
    one = throttling.client_digest(b"k1", Client(client_ip="203.0.113.7"))
    assert one is not None and b"203.0.113.7" not in one
    assert one == throttling.client_digest(b"k1", Client(client_ip="::ffff:203.0.113.7"))
    assert one != throttling.client_digest(b"k2", Client(client_ip="203.0.113.7"))
    assert throttling.client_digest(b"k1", Client(user_agent="x")) is None
    assert throttling.client_digest(b"k1", None) is None


def test_the_spray_keys_are_global_and_what_the_attempt_names():
    assert throttling.spray_keys(None, None) == ["spray:global"]
    assert throttling.spray_keys(b"\x01", "bff") == [
        "spray:global",
        "spray:ip:01",
        "spray:caller:bff",
    ]


def test_each_spray_limit_answers_rate_limited_with_the_longest_wait():
    buckets = {
        "spray:ip:01": Bucket(6, NOW - timedelta(seconds=50)),  # over: 10 s left
        "spray:caller:bff": Bucket(9, NOW - timedelta(seconds=20)),  # over: 40 s left
        "spray:global": Bucket(100, NOW),  # at the limit, not over
        "user:1": Bucket(1000, NOW),  # not a spray bucket
    }
    refusal = throttling.spray_refusal(LIMITS, buckets, NOW)
    assert refusal is not None and refusal.code == "rate_limited"
    assert refusal.details == {"retry_after_s": 40}


def test_a_passed_window_refuses_nothing():
    buckets = {"spray:ip:01": Bucket(50, NOW - timedelta(seconds=61))}
    assert throttling.spray_refusal(LIMITS, buckets, NOW) is None
