"""Appearance logo upload (07 §4 `general.logo`): PNG/JPEG/WebP ≤ 1 MiB by magic bytes into the draft, stored
content-addressed through the storage backend; SVG, GIF and oversize refused inline with nothing changed; the
public route serves only logos the tenant's configuration references; hosted pages show the published logo;
remove; RBAC and CSRF."""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from duro.appearance import service
from duro.config import Settings
from duro.db.engine import Database
from duro.kit.clock import SystemClock
from tests.checkout.harness import plan, session
from tests.conftest import TenantKeys, make_settings
from tests.http_assertions import ok
from tests.kyc.files import JPEG, PDF
from tests.web.harness import ACTOR

UPLOAD = "/dashboard/appearance/logo"
REMOVE = "/dashboard/appearance/logo/remove"
MIB = 1024 * 1024


def _png() -> bytes:
    """A real 1×1 PNG (signature, IHDR, IDAT, IEND with their CRCs)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00\x0f\x76\x6e"))
        + (chunk(b"IEND", b""))
    )


PNG = _png()
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>'


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(storage_dir=tmp_path / "uploads")


async def upload(dash: Any, data: bytes, name: str = "logo.png", csrf: str | None = None) -> Any:
    return await dash.client.post(
        UPLOAD,
        data={"csrf_token": dash.csrf if csrf is None else csrf},
        files={"file": (name, data, "image/png")},
    )


async def config(db: Database, tenant_id: str) -> dict[str, Any]:
    async with db.core_transaction() as conn:
        return await service.get_config(conn, tenant_id)


async def draft_logo(db: Database, tenant_id: str) -> Any:
    return (await config(db, tenant_id))["draft"]["general"]["logo"]


async def publish(db: Database, tenant_id: str) -> None:
    async with db.core_transaction() as conn:
        await service.publish(conn, tenant_id, actor=ACTOR, clock=SystemClock())


def stored_files(settings: Settings) -> list[Path]:
    root = settings.effective_storage_dir / "logos"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.mark.parametrize(("data", "ext"), [(PNG, "png"), (JPEG, "jpg"), (WEBP, "webp")])
async def test_upload_sets_the_draft_logo_and_stores_the_file(
    dash_as: Any, tenant: TenantKeys, db: Database, settings: Settings, data: bytes, ext: str
) -> None:
    dash = await dash_as(tenant, "developer")
    response = await upload(dash, data, f"mine.{ext}")
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/dashboard/appearance/general"
    digest = hashlib.sha256(data).hexdigest()
    path = f"/assets/logos/{tenant.id}/{digest}.{ext}"
    view = await config(db, tenant.id)
    assert view["draft"]["general"]["logo"] == path
    assert view["published"]["general"]["logo"] is None  # the draft only, until published
    assert view["hasUnpublishedChanges"]
    [stored] = stored_files(settings)
    assert stored.read_bytes() == data
    assert stored.relative_to(settings.effective_storage_dir).as_posix() == f"logos/{tenant.id}/{digest}.{ext}"
    page = await dash.get("/dashboard/appearance/general")
    assert f'src="{path}"' in page.text
    assert "Logo added to the draft" in page.text
    served = await dash.client.get(path)  # referenced by the draft: served
    assert served.status_code == 200
    assert served.content == data
    assert served.headers["content-type"] == {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}[ext]
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"


@pytest.mark.parametrize(
    ("data", "name", "issue"),
    [
        (SVG, "logo.svg", "must be a PNG, JPEG or WebP image (SVG is not accepted)"),
        (GIF, "logo.gif", "must be a PNG, JPEG or WebP image (SVG is not accepted)"),
        (PDF, "logo.png", "must be a PNG, JPEG or WebP image (SVG is not accepted)"),
        (PNG + b"\x00" * (MIB - len(PNG) + 1), "big.png", "must be at most 1 MiB"),  # one byte over: read, refused
        (PNG + b"\x00" * (2 * MIB), "huge.png", "must be at most 1 MiB"),  # over the body cap: never read
        (b"", "empty.png", "choose an image to upload"),
    ],
)
async def test_refused_files_show_an_inline_error_and_change_nothing(
    dash_as: Any, tenant: TenantKeys, db: Database, settings: Settings, data: bytes, name: str, issue: str
) -> None:
    dash = await dash_as(tenant, "owner")
    before = await config(db, tenant.id)
    response = await upload(dash, data, name)
    assert response.status_code == 422
    assert issue in response.text
    assert 'data-testid="logo-upload"' in response.text  # the form again, with the error beside it
    assert await config(db, tenant.id) == before
    assert stored_files(settings) == []


async def test_exactly_one_mib_is_accepted(dash_as: Any, tenant: TenantKeys, db: Database) -> None:
    dash = await dash_as(tenant, "owner")
    data = PNG + b"\x00" * (MIB - len(PNG))
    assert (await upload(dash, data)).status_code == 303
    assert await draft_logo(db, tenant.id) == f"/assets/logos/{tenant.id}/{hashlib.sha256(data).hexdigest()}.png"


async def test_logo_is_served_only_while_referenced(
    dash_as: Any, tenant: TenantKeys, db: Database, make_tenant: Any
) -> None:
    dash = await dash_as(tenant, "owner")
    assert (await upload(dash, PNG)).status_code == 303
    first = await draft_logo(db, tenant.id)
    await publish(db, tenant.id)
    assert (await upload(dash, JPEG, "second.jpg")).status_code == 303
    second = await draft_logo(db, tenant.id)
    client = dash.client
    # The published one and the draft one are both referenced.
    assert (await client.get(first)).status_code == 200
    assert (await client.get(second)).status_code == 200
    # Another tenant's path to the same file name: not referenced there.
    other = await make_tenant()
    assert (await client.get(first.replace(tenant.id, other.id))).status_code == 404
    # Removing from the draft: the published logo stays served, the draft-only one is gone.
    removed = await dash.post(REMOVE)
    assert removed.status_code == 303
    assert await draft_logo(db, tenant.id) is None
    assert (await client.get(first)).status_code == 200
    assert (await client.get(second)).status_code == 404
    # Publishing the removal: nothing is referenced any more, although the files are still in storage.
    await publish(db, tenant.id)
    assert (await client.get(first)).status_code == 404
    # Never a way into storage: odd names, other key spaces, unknown tenants.
    for path in (
        f"/assets/logos/{tenant.id}/..%2F..%2Fkyc%2Fx",
        f"/assets/logos/{tenant.id}/{'a' * 64}.svg",
        f"/assets/logos/{tenant.id}/{'a' * 64}.png",
        "/assets/logos/ten_01JGFJJZ4V8Q2M6T3X9K0D5R7B/" + first.rsplit("/", 1)[1],
        "/assets/logos/nope/x.png",
    ):
        assert (await client.get(path)).status_code == 404, path


async def test_published_logo_shows_on_checkout_and_the_store(dash_as: Any, tenant: TenantKeys, db: Database) -> None:
    dash = await dash_as(tenant, "owner")
    assert (await upload(dash, PNG)).status_code == 303
    path = await draft_logo(db, tenant.id)
    client = dash.client
    p = await plan(client, tenant)
    s = ok(await session(client, tenant, planId=p["id"]), 201)
    before = await client.get(f"/checkout/{s['token']}")
    assert path not in before.text  # only the draft has it
    await publish(db, tenant.id)
    page = await client.get(f"/checkout/{s['token']}")
    assert page.status_code == 200
    assert f'<img class="logo" src="{path}"' in page.text
    assert "img-src 'self'" in page.headers["content-security-policy"]  # same origin: no extra source needed
    hydrate = ok(await client.get(f"/api/checkout/{s['token']}"))
    assert hydrate["merchant"]["logoUrl"] == path
    public = ok(await client.get(f"/api/appearance/{tenant.slug}"))
    assert public["general"]["logo"] == path
    assert (await client.get(path)).status_code == 200


async def test_editor_shows_the_upload_form_and_remove(dash_as: Any, tenant: TenantKeys, db: Database) -> None:
    dash = await dash_as(tenant, "admin")
    page = await dash.get("/dashboard/appearance/general")
    assert 'enctype="multipart/form-data"' in page.text
    assert 'accept="image/png,image/jpeg,image/webp"' in page.text
    assert 'data-testid="logo-none"' in page.text
    assert 'name="logo"' not in page.text  # no URL field any more
    assert f'action="{REMOVE}"' not in page.text
    assert (await upload(dash, PNG)).status_code == 303
    page = await dash.get("/dashboard/appearance/general")
    assert f'action="{REMOVE}"' in page.text
    assert 'data-confirm="Really remove the logo from the draft?"' in page.text
    # Saving the General form keeps the uploaded logo.
    saved = await dash.post("/dashboard/appearance/general", {"brandColor": "#112233", "font": "inter"})
    assert saved.status_code == 303
    assert (await draft_logo(db, tenant.id)) is not None


async def test_finance_gets_403_and_sees_no_upload_form(
    dash_as: Any, tenant: TenantKeys, db: Database, settings: Settings
) -> None:
    owner = await dash_as(tenant, "owner")
    assert (await upload(owner, PNG)).status_code == 303
    logo = await draft_logo(db, tenant.id)
    dash = await dash_as(tenant, "finance")
    page = await dash.get("/dashboard/appearance/general")
    assert page.status_code == 200
    assert 'data-testid="logo-upload"' not in page.text
    assert f'action="{REMOVE}"' not in page.text
    assert (await upload(dash, JPEG, "x.jpg")).status_code == 403
    assert (await dash.post(REMOVE)).status_code == 403
    assert await draft_logo(db, tenant.id) == logo
    assert len(stored_files(settings)) == 1


async def test_csrf_is_required(dash_as: Any, tenant: TenantKeys, db: Database, settings: Settings) -> None:
    dash = await dash_as(tenant, "owner")
    assert (await upload(dash, PNG, csrf="forged")).status_code == 403
    assert await draft_logo(db, tenant.id) is None
    assert stored_files(settings) == []
    assert (await upload(dash, PNG)).status_code == 303
    response = await dash.client.post(REMOVE, data={"csrf_token": "forged"})
    assert response.status_code == 403
    assert await draft_logo(db, tenant.id) is not None


async def test_not_multipart_is_a_400(dash_as: Any, tenant: TenantKeys, db: Database) -> None:
    dash = await dash_as(tenant, "owner")
    response = await dash.post(UPLOAD, {"file": "x"})
    assert response.status_code == 400
    assert await draft_logo(db, tenant.id) is None
