"""Staff console through HTTP: 404 while disabled, key and session authentication (merchant credentials are
worthless here), CSRF, the queue, review with approve/reject, downloads, tenant search, and the JSON API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

import duro.staff.sessions as staff_sessions_module
from duro.app import create_app
from duro.config import Settings
from duro.context import RepositoryContext
from duro.credentials.service import create_oauth_client
from duro.dashboard.sessions import SESSION_COOKIE, SessionStore
from duro.db.engine import Database
from duro.kit.clock import FrozenClock, SystemClock
from duro.models.core import audit_logs, members, tenants
from duro.models.dashboard import staff_sessions
from duro.models.notifications import platform_notifications
from duro.tenants.service import CLI_ACTOR
from tests.conftest import TenantKeys, make_settings
from tests.kyc.files import PDF, PNG
from tests.staff.conftest import STAFF_KEY, csrf_in, staff_login

KEY = {"X-Staff-Key": STAFF_KEY}
PATHS = [
    ("GET", "/staff"),
    ("GET", "/staff/login"),
    ("POST", "/staff/login"),
    ("POST", "/staff/logout"),
    ("GET", "/staff/tenants"),
    ("GET", "/staff/kyc/ten_x"),
    ("POST", "/staff/kyc/ten_x/approve"),
    ("POST", "/staff/kyc/ten_x/reject"),
    ("GET", "/staff/kyc/documents/kyc_x/file"),
    ("GET", "/staff/api/kyc/pending"),
    ("GET", "/staff/api/tenants/ten_x"),
    ("POST", "/staff/api/kyc/ten_x/approve"),
    ("POST", "/staff/api/kyc/ten_x/reject"),
]


async def tenant_state(db: Database, tenant_id: str) -> tuple[str, str]:
    async with db.core_transaction() as conn:
        row = (await conn.execute(select(tenants.c.tier, tenants.c.kyc_status).where(tenants.c.id == tenant_id))).one()
    return row.tier, row.kyc_status


@pytest.mark.parametrize(("method", "path"), PATHS)
async def test_everything_404_when_staff_key_unset(db: Database, method: str, path: str) -> None:
    app = create_app(make_settings(), db=db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        response = await c.request(method, path, headers=KEY)
        unknown = await c.request(method, "/no-such" + path, headers=KEY)
    await app.state.runtime.close()
    assert response.status_code == 404
    # Byte for byte an unknown path (request ids aside): nothing tells that a console exists.
    assert response.json()["error"] | {"requestId": None} == unknown.json()["error"] | {"requestId": None}


@pytest.mark.parametrize(("method", "path"), [p for p in PATHS if p[1].startswith("/staff/api/")])
async def test_api_needs_the_key(client: httpx.AsyncClient, tenant: TenantKeys, method: str, path: str) -> None:
    for headers in (
        {},
        {"X-Staff-Key": STAFF_KEY[:-1]},
        {"X-Staff-Key": STAFF_KEY + "x"},
        {"X-Staff-Key": ("é" * 10).encode()},
        {"Authorization": f"Bearer {tenant.live_secret}"},
        {"Authorization": f"Bearer {tenant.test_secret}"},
        {"Authorization": f"Bearer {STAFF_KEY}"},
    ):
        response = await client.request(method, path, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.json()["error"]["reason"] == "invalid_staff_key"


async def merchant_oauth_token(client: httpx.AsyncClient, db: Database, settings: Settings, tenant_id: str) -> str:
    """A real merchant access token: an OAuth client made as `duro oauth create` does, then the client credentials
    grant on /v1/oauth/token."""
    async with db.transaction("test") as conn:
        ctx = RepositoryContext(conn, tenant_id, "test", SystemClock(), settings, CLI_ACTOR)
        made = await create_oauth_client(ctx, "integration")
    issued = await client.post(
        "/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": made.row.client_id,
            "client_secret": made.client_secret,
        },
    )
    assert issued.status_code == 200, issued.text
    token = issued.json()["access_token"]
    assert isinstance(token, str)
    return token


async def test_merchant_oauth_token_and_dashboard_cookie_are_not_staff(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantKeys, clock: FrozenClock
) -> None:
    bearer = {"Authorization": f"Bearer {await merchant_oauth_token(client, db, settings, tenant.id)}"}
    # The token is real: /v1 accepts it.
    assert (await client.get("/v1/customers", headers=bearer)).status_code == 200

    # On its own, without any cookie: refused everywhere under /staff.
    for method, path in PATHS:
        if path in ("/staff/login", "/staff/logout"):
            continue  # the login form is public; logout without a session only redirects
        path = path.replace("ten_x", tenant.id)
        answer = await client.request(method, path, headers=bearer)
        assert answer.status_code == 401, (method, path, answer.status_code)
        if path.startswith("/staff/api/"):
            assert answer.json()["error"]["reason"] == "invalid_staff_key"
        elif method == "GET" and not path.endswith("/file"):
            assert 'action="/staff/login"' in answer.text

    # With a merchant's dashboard session cookie as well: still not staff.
    async with db.core_transaction() as conn:
        owner = (await conn.execute(select(members.c.id).where(members.c.tenant_id == tenant.id))).one()
        token = await SessionStore(conn).create(
            member_id=owner.id, tenant_id=tenant.id, state="active", now=clock.now(), ip=None, user_agent=None
        )
    client.cookies.set(SESSION_COOKIE, token)
    for path in ("/staff", "/staff/tenants", "/staff/kyc/" + tenant.id):
        page = await client.get(path, headers=bearer)
        assert page.status_code == 401
        assert 'action="/staff/login"' in page.text
    api = await client.get("/staff/api/kyc/pending", headers=bearer)
    assert api.status_code == 401
    approve = await client.post(f"/staff/api/kyc/{tenant.id}/approve", headers=bearer)
    assert approve.status_code == 401
    assert await tenant_state(db, tenant.id) == ("unverified", "not_submitted")


async def test_login_sets_strict_cookie_and_logout_ends_it(client: httpx.AsyncClient, db: Database) -> None:
    wrong = await staff_login(client, "nope" * 10)
    assert wrong.status_code == 401
    assert "duro_staff=" not in wrong.headers.get("set-cookie", "")
    no_csrf = await client.post("/staff/login", data={"key": STAFF_KEY})
    assert no_csrf.status_code == 403

    ok = await staff_login(client)
    assert ok.status_code == 303
    assert ok.headers["location"] == "/staff"
    cookie = next(c for c in ok.headers.get_list("set-cookie") if c.startswith("duro_staff="))
    lowered = cookie.lower()
    assert "httponly" in lowered
    assert "samesite=strict" in lowered
    assert "path=/staff" in lowered
    assert "secure" not in lowered  # http:// public URL in test (02 §4 rule)
    async with db.core_transaction() as conn:
        stored = (await conn.execute(select(staff_sessions))).all()
    token = cookie.split(";", 1)[0].split("=", 1)[1]
    assert len(stored) == 1
    assert stored[0].token_hash != token
    assert len(token) == 43

    home = await client.get("/staff")
    assert home.status_code == 200
    assert "No submissions are waiting" in home.text
    bad_logout = await client.post("/staff/logout", data={})
    assert bad_logout.status_code == 403
    out = await client.post("/staff/logout", data={"csrf_token": csrf_in(home.text)})
    assert out.status_code == 303
    async with db.core_transaction() as conn:
        assert (await conn.execute(select(staff_sessions))).all() == []
    client.cookies.set("duro_staff", token, path="/staff")
    assert (await client.get("/staff")).status_code == 401


async def test_secure_cookie_under_https(db: Database, tmp_path: Any) -> None:
    settings = make_settings(staff_key=STAFF_KEY, public_url="https://duro.example", storage_dir=tmp_path)
    app = create_app(settings, db=db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://duro.example") as c:
        response = await staff_login(c)
    await app.state.runtime.close()
    cookie = next(x for x in response.headers.get_list("set-cookie") if x.startswith("duro_staff="))
    assert "secure" in cookie.lower()


async def test_review_flow_in_the_console(
    client: httpx.AsyncClient, db: Database, make_tenant: Any, submitted: Any
) -> None:
    first = await make_tenant("First Foods")
    second = await make_tenant("Second Shop")
    await submitted(first)
    await submitted(second)
    await staff_login(client)

    queue = await client.get("/staff")
    assert queue.status_code == 200
    assert queue.text.index("First Foods") < queue.text.index("Second Shop")

    review = await client.get(f"/staff/kyc/{first.id}")
    assert review.status_code == 200
    assert first.owner_email in review.text
    assert "memart.png" in review.text  # PNG bytes sent as memart.pdf
    csrf = csrf_in(review.text)

    missing_csrf = await client.post(f"/staff/kyc/{first.id}/approve", data={})
    assert missing_csrf.status_code == 403
    empty_note = await client.post(f"/staff/kyc/{second.id}/reject", data={"csrf_token": csrf, "note": " "})
    assert empty_note.status_code == 422
    assert await tenant_state(db, second.id) == ("unverified", "pending")

    approved = await client.post(f"/staff/kyc/{first.id}/approve", data={"csrf_token": csrf})
    assert approved.status_code == 303
    assert await tenant_state(db, first.id) == ("verified", "approved")
    rejected = await client.post(
        f"/staff/kyc/{second.id}/reject", data={"csrf_token": csrf, "note": "Status report is older than a year."}
    )
    assert rejected.status_code == 303
    assert await tenant_state(db, second.id) == ("unverified", "rejected")
    page = await client.get(f"/staff/kyc/{second.id}")
    assert "Status report is older than a year." in page.text

    again = await client.post(f"/staff/kyc/{first.id}/approve", data={"csrf_token": csrf})
    assert again.status_code == 409
    assert (await client.get("/staff")).text.count("/staff/kyc/ten_") == 0

    async with db.core_transaction() as conn:
        entries = (
            await conn.execute(
                select(audit_logs.c.tenant_id, audit_logs.c.action, audit_logs.c.actor_type).where(
                    audit_logs.c.actor_type == "staff"
                )
            )
        ).all()
        sent = (
            await conn.execute(
                select(platform_notifications.c.template_key).where(
                    platform_notifications.c.template_key.in_(("kyc_approved", "kyc_rejected"))
                )
            )
        ).all()
    assert sorted((e.tenant_id, e.action) for e in entries) == sorted(
        [(first.id, "kyc.approved"), (second.id, "kyc.rejected")]
    )
    assert sorted(s.template_key for s in sent) == ["kyc_approved", "kyc_rejected"]


async def test_download_headers(client: httpx.AsyncClient, tenant: TenantKeys, submitted: Any) -> None:
    body = await submitted(tenant)
    doc = body["documents"]["memart"]
    unauthenticated = await client.get(f"/staff/kyc/documents/{doc['id']}/file")
    assert unauthenticated.status_code == 401
    await staff_login(client)
    response = await client.get(f"/staff/kyc/documents/{doc['id']}/file")
    assert response.status_code == 200
    assert response.content == PNG
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"] == 'attachment; filename="memart.png"'
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    cac = await client.get(f"/staff/kyc/documents/{body['documents']['cac']['id']}/file")
    assert cac.content == PDF
    assert (await client.get("/staff/kyc/documents/kyc_missing/file")).status_code == 404


async def test_tenant_search(client: httpx.AsyncClient, make_tenant: Any) -> None:
    a = await make_tenant("Mango Market")
    b = await make_tenant("Kola Kitchen")
    await staff_login(client)
    by_name = await client.get("/staff/tenants", params={"q": "mango"})
    assert "Mango Market" in by_name.text
    assert "Kola Kitchen" not in by_name.text
    by_email = await client.get("/staff/tenants", params={"q": b.owner_email})
    assert "Kola Kitchen" in by_email.text
    assert "Mango Market" not in by_email.text
    by_slug = await client.get("/staff/tenants", params={"q": a.slug})
    assert f"/staff/kyc/{a.id}" in by_slug.text
    none = await client.get("/staff/tenants", params={"q": "zzz-nothing"})
    assert "No tenant matches" in none.text


async def test_json_api(client: httpx.AsyncClient, db: Database, make_tenant: Any, submitted: Any) -> None:
    first = await make_tenant("Api One")
    second = await make_tenant("Api Two")
    await submitted(first)
    await submitted(second)
    pending = await client.get("/staff/api/kyc/pending", headers=KEY)
    assert pending.status_code == 200
    assert [t["id"] for t in pending.json()["items"]] == [first.id, second.id]

    detail = await client.get(f"/staff/api/tenants/{first.id}", headers=KEY)
    body = detail.json()
    assert (body["name"], body["slug"], body["ownerEmail"], body["tier"]) == (
        "Api One",
        first.slug,
        first.owner_email,
        "unverified",
    )
    assert body["liveGrossVolume"] == 0
    assert body["documents"]["memart"]["contentType"] == "image/png"
    assert (await client.get("/staff/api/tenants/ten_nope", headers=KEY)).status_code == 404

    bad = await client.post(f"/staff/api/kyc/{second.id}/reject", json={"note": ""}, headers=KEY)
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["path"] == "note"
    malformed = await client.post(f"/staff/api/kyc/{second.id}/reject", content=b"{", headers=KEY)
    assert malformed.status_code == 400

    approved = await client.post(f"/staff/api/kyc/{first.id}/approve", headers=KEY)
    assert approved.status_code == 200
    assert (approved.json()["tier"], approved.json()["kycStatus"]) == ("verified", "approved")
    rejected = await client.post(f"/staff/api/kyc/{second.id}/reject", json={"note": "Unreadable."}, headers=KEY)
    assert rejected.status_code == 200
    assert rejected.json()["kycStatus"] == "rejected"
    assert rejected.json()["documents"]["cac"]["reviewNote"] == "Unreadable."
    assert (await client.get("/staff/api/kyc/pending", headers=KEY)).json()["items"] == []
    final = await client.post(f"/staff/api/kyc/{first.id}/reject", json={"note": "x"}, headers=KEY)
    assert final.status_code == 409


async def test_non_ascii_key_compared_on_utf8_bytes(db: Database, tmp_path: Any) -> None:
    key = "ключ-персонала-" * 3
    app = create_app(make_settings(staff_key=key, storage_dir=tmp_path), db=db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        ok = await c.get("/staff/api/kyc/pending", headers={"X-Staff-Key": key.encode()})
        wrong = await c.get("/staff/api/kyc/pending", headers={"X-Staff-Key": key.encode("utf-16")})
        form = await staff_login(c, key)
    await app.state.runtime.close()
    assert ok.status_code == 200
    assert wrong.status_code == 401
    assert form.status_code == 303


def test_settings_reject_short_staff_key() -> None:
    with pytest.raises(ValueError, match="DURO_STAFF_KEY"):
        make_settings(staff_key="short")


async def test_the_key_is_compared_with_hmac_compare_digest(
    client: httpx.AsyncClient, tenant: TenantKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """02 §10: the key check is `hmac.compare_digest` on UTF-8 bytes, for the header and for the login form."""
    seen: list[tuple[bytes, bytes]] = []
    real = staff_sessions_module.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(staff_sessions_module.hmac, "compare_digest", spy)
    wrong = await client.get("/staff/api/kyc/pending", headers={"X-Staff-Key": "x" * len(STAFF_KEY)})
    assert wrong.status_code == 401
    right = await client.get("/staff/api/kyc/pending", headers=KEY)
    assert right.status_code == 200
    assert (await staff_login(client)).status_code == 303
    assert seen[:2] == [(b"x" * len(STAFF_KEY), STAFF_KEY.encode()), (STAFF_KEY.encode(), STAFF_KEY.encode())]
    assert seen[-1] == (STAFF_KEY.encode(), STAFF_KEY.encode())  # the login form's key (after its CSRF check)
