"""Recovery settings (04 §6): read with the spec defaults, partial update judged on the merged result, audited.

A tenant has no `store_settings` row until a PATCH changes something; until then the defaults of
`RecoverySettings` apply. The rules themselves are `RecoverySettings.validate()`: per-field problems answer a plain
422 `validation_error`, cross-field ones 422 with reason `settings_inconsistent`.
"""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import datetime
from typing import Any, Final

from duro.audit.service import record as audit
from duro.billing.dunning import FIELD_INVALID, SETTINGS_INCONSISTENT, RecoverySettings, SettingsProblem
from duro.context import RepositoryContext
from duro.db.repository import DbRow
from duro.kit.errors import Detail, DuroError
from duro.kit.jsonenc import format_ts, to_camel
from duro.settings.repository import StoreSettingsRepository
from duro.settings.schemas import RecoverySettingsUpdate

# Dataclass attribute = column name; the API name is its camelCase.
FIELDS: Final[tuple[str, ...]] = tuple(f.name for f in fields(RecoverySettings))
AUDIT_ACTION: Final = "settings.recovery_updated"


def _from_row(row: DbRow | None) -> RecoverySettings:
    if row is None or row["tenant_id"] is None:
        return RecoverySettings()
    values = {name: row[name] for name in FIELDS}
    values["retry_offsets_hours"] = tuple(values["retry_offsets_hours"])
    return RecoverySettings(**values)


def _api_values(settings: RecoverySettings) -> dict[str, Any]:
    out = {to_camel(name): getattr(settings, name) for name in FIELDS}
    out["retryOffsetsHours"] = list(settings.retry_offsets_hours)
    return out


def recovery_settings_json(settings: RecoverySettings, updated_at: datetime) -> dict[str, Any]:
    return {"object": "recovery_settings", **_api_values(settings), "updatedAt": format_ts(updated_at)}


def default_settings_columns() -> dict[str, Any]:
    """The column values of the spec defaults, written for both modes at signup (02 §4)."""
    defaults = RecoverySettings()
    values = {name: getattr(defaults, name) for name in FIELDS}
    values["retry_offsets_hours"] = list(defaults.retry_offsets_hours)
    return values


async def load_recovery_settings(ctx: RepositoryContext) -> RecoverySettings:
    """The tenant's settings in `ctx`'s mode, or the spec defaults when it never saved any. One SELECT; the dunning
    engine calls this on every decision."""
    return _from_row(await ctx.repo(StoreSettingsRepository).get())


async def get_recovery_settings(ctx: RepositoryContext) -> dict[str, Any]:
    row = await ctx.repo(StoreSettingsRepository).get_with_tenant()
    # Without a row the settings have been the defaults since the tenant exists, so `updatedAt` is the tenant's
    # `createdAt`: a real instant, stable across reads, and never later than a first save would be.
    updated_at: datetime = row["tenant_created_at"] if row["tenant_id"] is None else row["updated_at"]
    return recovery_settings_json(_from_row(row), updated_at)


def _refusal(problems: list[SettingsProblem]) -> DuroError:
    per_field = [p for p in problems if p.code == FIELD_INVALID]
    chosen = per_field or problems
    details = [Detail(p.path, p.issue) for p in chosen]
    reason = None if per_field else SETTINGS_INCONSISTENT
    return DuroError(422, f"{details[0].path}: {details[0].issue}", reason, details)


def check_fields(body: RecoverySettingsUpdate) -> None:
    """Per-field rules of the sent fields, without the database: the router runs this before the idempotency
    claim, so a malformed body stores nothing (01 §8 step 2). Each field's rules do not depend on the others, so
    judging the sent fields on top of the defaults reports exactly their own problems."""
    problems = replace(RecoverySettings(), **body.provided()).validate()
    per_field = [p for p in problems if p.code == FIELD_INVALID]
    if per_field:
        raise _refusal(per_field)


async def update_recovery_settings(ctx: RepositoryContext, body: RecoverySettingsUpdate) -> dict[str, Any]:
    """Merge the sent fields into the stored settings (or the defaults), validate the result, upsert, audit.

    The row is locked before the merge so two concurrent PATCHes apply one after the other and the cross-field rules
    hold on what is finally stored. A PATCH that changes nothing writes nothing (no row, no audit entry)."""
    repo = ctx.repo(StoreSettingsRepository)
    row = await repo.get(for_update=True)
    current = _from_row(row)
    candidate = replace(current, **body.provided())
    problems = candidate.validate()
    if problems:
        raise _refusal(problems)
    candidate = replace(candidate, retry_offsets_hours=tuple(candidate.retry_offsets_hours))
    changed = [name for name in FIELDS if getattr(candidate, name) != getattr(current, name)]
    if not changed:
        return await get_recovery_settings(ctx)

    now = ctx.clock.now()
    values = {name: getattr(candidate, name) for name in FIELDS}
    values["retry_offsets_hours"] = list(candidate.retry_offsets_hours)
    if row is None:
        inserted = await repo.insert_if_missing({**values, "created_at": now, "updated_at": now})
        if inserted is None:
            # A concurrent first PATCH created the row; merge onto what it stored instead of the defaults.
            return await update_recovery_settings(ctx, body)
        saved = inserted
    else:
        saved = await repo.set_fields({**values, "updated_at": now})

    before, after = _api_values(current), _api_values(candidate)
    keys = [to_camel(name) for name in changed]
    await audit(
        ctx,
        AUDIT_ACTION,
        target_type="recovery_settings",
        before={k: before[k] for k in keys},
        after={k: after[k] for k in keys},
    )
    return recovery_settings_json(candidate, saved["updated_at"])
