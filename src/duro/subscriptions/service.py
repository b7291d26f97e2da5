"""Reading subscriptions."""

from __future__ import annotations

from typing import Any

from duro.context import RepositoryContext
from duro.customers.repository import CustomerRepository
from duro.invoices.repository import TransactionRepository
from duro.invoices.serializers import transaction_json
from duro.kit.errors import not_found
from duro.kit.pagination import PageRequest
from duro.subscriptions.repository import SubscriptionRepository
from duro.subscriptions.serializers import subscription_json


async def get_subscription(ctx: RepositoryContext, sub_id: str) -> dict[str, Any]:
    row = await ctx.repo(SubscriptionRepository).get_row(sub_id)
    if row is None:
        raise not_found("No such subscription")
    return subscription_json(row)


async def list_subscriptions(ctx: RepositoryContext, page: PageRequest, **filters: str | None) -> dict[str, Any]:
    result = await ctx.repo(SubscriptionRepository).list_page(page, **filters)
    return result.map(subscription_json).as_json()


async def _require_customer(ctx: RepositoryContext, customer_id: str) -> None:
    if await ctx.repo(CustomerRepository).get_row(customer_id) is None:
        raise not_found("No such customer")


async def customer_subscriptions(ctx: RepositoryContext, customer_id: str, page: PageRequest) -> dict[str, Any]:
    await _require_customer(ctx, customer_id)
    return await list_subscriptions(ctx, page, customer_id=customer_id)


async def customer_transactions(ctx: RepositoryContext, customer_id: str, page: PageRequest) -> dict[str, Any]:
    await _require_customer(ctx, customer_id)
    result = await ctx.repo(TransactionRepository).list_page(page, customer_id=customer_id)
    return result.map(transaction_json).as_json()
