"""Promo code rules: unique code per tenant and mode, `maxRedemptions` never below what was redeemed."""

from __future__ import annotations

from typing import Any

from duro.context import RepositoryContext
from duro.db.executor import UniqueViolation
from duro.db.repository import DbRow
from duro.kit.errors import Detail, DuroError, conflict, invalid_field, not_found, validation
from duro.kit.ids import new_id
from duro.kit.jsonenc import format_ts
from duro.kit.pagination import PageRequest
from duro.plans.repository import PlanRepository
from duro.promo_codes.repository import PromoCodeRepository
from duro.promo_codes.schemas import PromoCodeCreate, PromoCodeUpdate


def promo_code_json(row: DbRow) -> dict[str, Any]:
    max_r = row["max_redemptions"]
    return {
        "object": "promo_code",
        "id": row["id"],
        "code": row["code"],
        "discountType": row["discount_type"],
        "discountValue": row["discount_value"],
        "currency": row["currency"],
        "planId": row["plan_id"],
        "duration": row["duration"],
        "durationCycles": row["duration_cycles"],
        "maxRedemptions": max_r,
        "redeemedCount": row["redeemed_count"],
        "remaining": None if max_r is None else max_r - row["redeemed_count"],
        "active": row["active"],
        "expiresAt": format_ts(row["expires_at"]),
        "metadata": row["metadata"],
        "createdAt": format_ts(row["created_at"]),
        "updatedAt": format_ts(row["updated_at"]),
    }


def _duplicate() -> DuroError:
    return conflict("duplicate_code", "Another promo code already uses this code")


async def create_promo_code(ctx: RepositoryContext, body: PromoCodeCreate) -> dict[str, Any]:
    now = ctx.clock.now()
    if body.expires_at is not None and body.expires_at <= now:
        raise invalid_field("expiresAt", "must be in the future")
    if body.plan_id is not None:
        plan = await ctx.repo(PlanRepository).get_row(body.plan_id)
        if plan is None:
            raise not_found("No such plan", path="planId")
        if body.discount_type == "fixed" and body.currency != plan["currency"]:
            # Such a code could never apply (03 §9 `promo_code_not_applicable`): refuse it up front.
            raise validation(
                "currency must match the plan's currency",
                [Detail("currency", f"must be {plan['currency']}, the currency of plan {plan['id']}")],
                reason="currency_mismatch",
            )
    try:
        row = await ctx.repo(PromoCodeRepository).insert_row(
            {
                "id": new_id("promo"),
                "code": body.code,
                "discount_type": body.discount_type,
                "discount_value": body.discount_value,
                "currency": body.currency,
                "plan_id": body.plan_id,
                "duration": body.duration,
                "duration_cycles": body.duration_cycles,
                "max_redemptions": body.max_redemptions,
                "redeemed_count": 0,
                "active": True,
                "expires_at": body.expires_at,
                "metadata": body.metadata,
                "created_at": now,
                "updated_at": now,
            }
        )
    except UniqueViolation as exc:
        raise _duplicate() from exc
    return promo_code_json(row)


async def get_promo_code(ctx: RepositoryContext, promo_id: str) -> dict[str, Any]:
    row = await ctx.repo(PromoCodeRepository).get_row(promo_id)
    if row is None:
        raise not_found("No such promo code")
    return promo_code_json(row)


async def list_promo_codes(
    ctx: RepositoryContext, page: PageRequest, active: bool | None, code: str | None
) -> dict[str, Any]:
    result = await ctx.repo(PromoCodeRepository).list_page(page, active=active, code=code)
    return result.map(promo_code_json).as_json()


async def update_promo_code(ctx: RepositoryContext, promo_id: str, body: PromoCodeUpdate) -> dict[str, Any]:
    repo = ctx.repo(PromoCodeRepository)
    # Locked so a concurrent redemption cannot slip between the check and the write.
    row = await repo.get_row(promo_id, for_update=True)
    if row is None:
        raise not_found("No such promo code")
    changes = {k: v for k, v in body.provided().items() if row[k] != v}
    max_r = changes.get("max_redemptions")
    if max_r is not None and max_r < row["redeemed_count"]:
        raise invalid_field("maxRedemptions", f"must be at least redeemedCount ({row['redeemed_count']}) or null")
    if changes:
        updated = await repo.set_fields(promo_id, {**changes, "updated_at": ctx.clock.now()})
        assert updated is not None  # locked above
        row = updated
    return promo_code_json(row)


def _promo_error(reason: str, issue: str) -> DuroError:
    return validation(issue, [Detail("promoCode", issue)], reason=reason)


def unavailable_reason(promo: DbRow | None, plan: DbRow, now: Any) -> tuple[str, str] | None:
    """Why a code cannot apply to `plan` at `now` (03 §9, checks in order), or None when it can."""
    if promo is None or not promo["active"]:
        return "promo_code_invalid", "no active promo code has this code"
    if promo["expires_at"] is not None and promo["expires_at"] <= now:
        return "promo_code_expired", "this promo code has expired"
    if promo["max_redemptions"] is not None and promo["redeemed_count"] >= promo["max_redemptions"]:
        return "promo_code_exhausted", "this promo code has no redemptions left"
    if promo["plan_id"] is not None and promo["plan_id"] != plan["id"]:
        return "promo_code_not_applicable", "this promo code is for another plan"
    if promo["discount_type"] == "fixed" and promo["currency"] != plan["currency"]:
        return "promo_code_not_applicable", "this promo code is in another currency"
    return None


async def redeem_for_plan(ctx: RepositoryContext, code: str, plan: DbRow, now: Any) -> DbRow:
    """Check and atomically redeem `code` for `plan`; 422 with the spec's reason when it cannot apply."""
    repo = ctx.repo(PromoCodeRepository)
    promo = await repo.by_code(code.strip().upper())
    problem = unavailable_reason(promo, plan, now)
    if problem is not None:
        raise _promo_error(*problem)
    assert promo is not None
    redeemed = await repo.redeem(promo["id"], now)
    if redeemed is None:  # lost a race for the last redemption (or it expired this instant)
        raise _promo_error(*(unavailable_reason(await repo.get_row(promo["id"]), plan, now) or _EXHAUSTED))
    return redeemed


_EXHAUSTED = ("promo_code_exhausted", "this promo code has no redemptions left")


def discount_line(promo: DbRow, discount: int) -> dict[str, Any]:
    if promo["discount_type"] == "percentage":
        label = f"{promo['code']} ({promo['discount_value']}% off)"
    else:
        label = f"{promo['code']} ({promo['discount_value']} {promo['currency']} off)"
    return {"type": "discount", "description": label, "amount": -discount, "periodStart": None, "periodEnd": None}


def initial_discount_cycles(promo: DbRow) -> int | None:
    """`once` → 1, `repeating` → N, `forever` → None (03 §9)."""
    if promo["duration"] == "once":
        return 1
    if promo["duration"] == "repeating":
        return int(promo["duration_cycles"])
    return None
