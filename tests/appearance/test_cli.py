"""`duro appearance set/publish/show` (01 §11) end to end, and the demo's published appearance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from duro.db.engine import Database
from duro.models.core import audit_logs
from tests.cli.process import ainvoke
from tests.conftest import TenantKeys


def parse(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def write(tmp_path: Path, name: str, value: Any) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(value) if not isinstance(value, str) else value)
    return str(path)


async def test_set_publish_show_round_trip(tenant: TenantKeys, db: Database, tmp_path: Path) -> None:
    base = ("--tenant", tenant.id)
    general = write(tmp_path, "general.json", {"brandColor": "#7c3aed", "displayName": "Acme"})
    checkout = write(tmp_path, "checkout.json", {"rails": ["transfer", "card"], "headline": "Join"})
    done = await ainvoke(tmp_path, "appearance", "set", *base, "--surface", "general", "--file", general)
    assert done.exit_code == 0, done.output
    assert "unpublished changes: general" in done.stdout
    view = parse(
        await ainvoke(tmp_path, "appearance", "set", *base, "--surface", "checkout", "--file", checkout, "--json")
    )
    assert view["changedSurfaces"] == ["general", "checkout"]

    published = parse(await ainvoke(tmp_path, "appearance", "show", *base, "--json"))
    assert set(published) == {"general", "store", "checkout", "overlay", "portal", "email"}
    assert published["general"]["brandColor"] == "#0F766E"  # not yet published
    draft = parse(await ainvoke(tmp_path, "appearance", "show", *base, "--draft", "--json"))
    assert draft["general"] == {
        "displayName": "Acme", "brandColor": "#7C3AED", "font": "system", "logo": None, "language": "en",
    }  # fmt: skip
    assert draft["checkout"]["rails"] == ["transfer", "card"]

    out = await ainvoke(tmp_path, "appearance", "publish", *base)
    assert out.exit_code == 0, out.output
    assert "published version 1" in out.stdout
    assert parse(await ainvoke(tmp_path, "appearance", "show", *base, "--json")) == draft

    # What `show` prints is accepted back by `set`, surface by surface, and changes nothing.
    for surface, fields in draft.items():
        again = parse(
            await ainvoke(
                tmp_path, "appearance", "set", *base, "--surface", surface,
                "--file", write(tmp_path, f"{surface}.json", fields), "--json",
            )
        )  # fmt: skip
        assert again["hasUnpublishedChanges"] is False

    async with db.core_transaction() as conn:
        rows = (
            await conn.execute(
                select(audit_logs).where(audit_logs.c.tenant_id == tenant.id, audit_logs.c.action.like("appearance.%"))
            )
        ).all()
    assert [(r.action, r.actor_type, r.actor_label, r.mode) for r in rows] == [
        ("appearance.published", "system", "cli", None)
    ]
    assert rows[0].after["general"] == {"displayName": "Acme", "brandColor": "#7C3AED"}


async def test_set_lists_every_error_and_exits_1(tenant: TenantKeys, tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.json", {"rails": [], "footerNote": "x" * 301, "colour": "red"})
    result = await ainvoke(tmp_path, "appearance", "set", "--tenant", tenant.id, "--surface", "checkout", "--file", bad)
    assert result.exit_code == 1
    err = result.stderr
    assert "rails: must name at least one rail" in err
    assert "footerNote: must be 1-300 characters" in err
    assert "colour: unknown field" in err
    draft = parse(await ainvoke(tmp_path, "appearance", "show", "--tenant", tenant.id, "--draft", "--json"))
    assert draft["checkout"]["footerNote"] is None  # nothing saved

    not_json = write(tmp_path, "broken.json", "{rails: ")
    broken = await ainvoke(
        tmp_path, "appearance", "set", "--tenant", tenant.id, "--surface", "checkout", "--file", not_json
    )
    assert broken.exit_code == 1
    assert "not valid JSON" in broken.stderr
    surface = await ainvoke(
        tmp_path, "appearance", "set", "--tenant", tenant.id, "--surface", "footer", "--file", not_json
    )
    assert surface.exit_code == 1
    missing = await ainvoke(tmp_path, "appearance", "publish", "--tenant", "ten_01JGFJJZ4V8Q2M6T3X9K0D5R7B")
    assert missing.exit_code == 1
    assert "No such tenant" in missing.stderr


async def test_set_rejects_an_unknown_surface_before_reading_anything(tenant: TenantKeys, tmp_path: Path) -> None:
    good = write(tmp_path, "ok.json", {"heading": "x"})
    result = await ainvoke(tmp_path, "appearance", "set", "--tenant", tenant.id, "--surface", "footer", "--file", good)
    assert result.exit_code == 1
    assert "surface: must be one of general, store, checkout, overlay, portal, email" in " ".join(result.stderr.split())


async def test_demo_publishes_an_appearance_once(client: httpx.AsyncClient, tmp_path: Path) -> None:
    first = parse(await ainvoke(tmp_path, "demo", "--json"))
    slug = first["tenant"]["slug"]
    body = (await client.get(f"/api/appearance/{slug}")).json()
    assert body["version"] == 1
    assert body["general"]["brandColor"] == "#7C3AED"
    assert body["checkout"]["headline"] == "Join Demo Store"
    assert body["portal"]["heading"] == "Your Demo Store plan"
    assert body["portal"]["brandColor"] == "#7C3AED"
    parse(await ainvoke(tmp_path, "demo", "--json"))
    assert (await client.get(f"/api/appearance/{slug}")).json()["version"] == 1  # idempotent
