"""How many subscriptions a test clock may carry (03 §12: at most 100 attached subscriptions).

Every attached subscription counts, terminal ones included: a subscription stays attached to its clock for life
(`testClockId` never changes), and the limit bounds what one `advance` has to walk.
"""

from __future__ import annotations

from typing import Final

from duro.context import RepositoryContext
from duro.db.repository import DbRow
from duro.kit.errors import conflict, not_found
from duro.models.billing import subscriptions
from duro.subscriptions.repository import SubscriptionRepository, TestClockRepository

MAX_SUBSCRIPTIONS_PER_CLOCK: Final = 100
CLOCK_LIMIT_REACHED: Final = "clock_limit_reached"


async def lock_clock_for_attach(ctx: RepositoryContext, clock_id: str) -> DbRow:
    """Lock the clock row (`FOR UPDATE`) and check it can take one more subscription; returns the locked row.

    The lock is held until the caller's transaction commits the new subscription, so concurrent creations on one
    clock count one after the other and cannot together pass the limit. Unknown clock → 404 naming `testClockId`;
    full → 409 `clock_limit_reached` (the spec names no reason for this limit; this follows the other
    `*_limit_reached` reasons of 01 §5)."""
    clock = await ctx.repo(TestClockRepository).get_row(clock_id, for_update=True)
    if clock is None:
        raise not_found("No such test clock", path="testClockId")
    attached = await ctx.repo(SubscriptionRepository).count(subscriptions.c.test_clock_id == clock_id)
    if attached >= MAX_SUBSCRIPTIONS_PER_CLOCK:
        raise conflict(
            CLOCK_LIMIT_REACHED,
            f"This test clock already has {MAX_SUBSCRIPTIONS_PER_CLOCK} attached subscriptions; use another clock",
        )
    return clock
