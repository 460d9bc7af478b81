"""Rules more than one service must apply the same way: a shared kernel, kept small.

Not runtime (plumbing, no business rules) and not contracts (pydantic only, shipped to other
teams): a rule here depends on libraries the contracts must not, and three services that may
not import each other need it to agree. `contacts`: one spelling per recipient, so identity's
users, verification's codes and the notifier's messages name the same person the same way.
Pure: no I/O, no service imported (tests/unit/test_layering.py). A rule one service owns
lives in that service.
"""
