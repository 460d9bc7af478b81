"""The hourly send budgets of `notifier.send.v1` (see `services.notifier.policy`)."""

from datetime import datetime

import asyncpg

from services.notifier.policy import Budget

# Counts one message, unless the row already reached its cap (then no row comes back). The
# upsert locks the row: concurrent senders queue on it, and exactly `cap` of them get one.
_SPEND = """
INSERT INTO send_budgets (namespace, scope, channel, window_start, used)
SELECT $1, $2, $3, $4, 1 WHERE $5 > 0
ON CONFLICT (namespace, scope, channel, window_start) DO UPDATE
    SET used = send_budgets.used + 1
    WHERE send_budgets.used < $5
RETURNING used
"""


class _Spent(Exception):
    def __init__(self, budget: Budget) -> None:
        self.budget = budget


async def spend(
    pool: asyncpg.Pool, namespace: str, window_start: datetime, budgets: tuple[Budget, ...]
) -> Budget | None:
    """Count one message against every budget, all or none: None when it may go, else the
    first budget that is spent. A transaction of its own, committed at once: the message is
    published after it, and a handler must not talk to the network inside one."""
    try:
        async with pool.acquire() as con, con.transaction():
            for budget in budgets:
                used = await con.fetchval(
                    _SPEND, namespace, budget.scope, budget.channel, window_start, budget.cap
                )
                if used is None:
                    raise _Spent(budget)  # rolls back what the others counted
    except _Spent as spent:
        return spent.budget
    return None
