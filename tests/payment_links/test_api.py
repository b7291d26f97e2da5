"""/v1/payment-links: create, list, retrieve, update; validation, uniqueness, idempotency, isolation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.http_assertions import err, invalid, not_found, ok, unknown_key

FIELDS = {"object", "id", "planId", "slug", "active", "url", "metadata", "createdAt", "updatedAt"}
UNKNOWN_PLAN = "plan_01JGFMA2P3K8W1N6Y4D9C0B7QX"


async def make_plan(client: Any, tenant: Any, mode: str = "test") -> dict[str, Any]:
    body = {"name": "Pro", "amount": 500000, "interval": "month"}
    return ok(await client.post("/v1/plans", json=body, headers=tenant.auth(mode)), 201)  # type: ignore[no-any-return]


async def create(
    client: Any, tenant: Any, mode: str = "test", headers: dict[str, str] | None = None, **body: Any
) -> Any:
    return await client.post("/v1/payment-links", json=body, headers={**tenant.auth(mode), **(headers or {})})


async def make_link(client: Any, tenant: Any, mode: str = "test", **body: Any) -> dict[str, Any]:
    if "planId" not in body:
        body["planId"] = (await make_plan(client, tenant, mode))["id"]
    return ok(await create(client, tenant, mode, **{"slug": "pro-monthly", **body}), 201)  # type: ignore[no-any-return]


async def links(client: Any, tenant: Any, mode: str = "test", query: str = "") -> list[str]:
    listed = ok(await client.get(f"/v1/payment-links{query}", headers=tenant.auth(mode)))
    return [item["id"] for item in listed["items"]]


@pytest.mark.parametrize("mode", ["test", "live"])
async def test_create_and_read_back(client: Any, tenant: Any, mode: str) -> None:
    plan = await make_plan(client, tenant, mode)
    link = ok(
        await create(client, tenant, mode, planId=plan["id"], slug="pro-monthly", metadata={"campaign": "launch"}),
        201,
    )
    assert set(link) == FIELDS
    assert link["object"] == "payment_link"
    assert link["id"].startswith("plink_")
    assert link["planId"] == plan["id"]
    assert link["slug"] == "pro-monthly"
    assert link["active"] is True
    assert link["metadata"] == {"campaign": "launch"}
    suffix = "?mode=test" if mode == "test" else ""
    assert link["url"] == f"http://localhost:8000/pay/{tenant.slug}/pro-monthly{suffix}"
    assert link["createdAt"] == link["updatedAt"]
    assert link["createdAt"].endswith("Z")
    assert ok(await client.get(f"/v1/payment-links/{link['id']}", headers=tenant.auth(mode))) == link
    assert await links(client, tenant, mode) == [link["id"]]


async def test_defaults_and_inactive_on_create(client: Any, tenant: Any) -> None:
    plan = await make_plan(client, tenant)
    link = ok(await create(client, tenant, planId=plan["id"], slug="a"), 201)
    assert (link["active"], link["metadata"]) == (True, {})
    off = ok(await create(client, tenant, planId=plan["id"], slug="b", active=False), 201)
    assert off["active"] is False


@pytest.mark.parametrize(
    ("body", "path", "issue"),
    [
        ({"slug": ""}, "slug", "at least 1"),
        ({"slug": "a" * 65}, "slug", "at most 64"),
        ({"slug": "Pro"}, "slug", "pattern"),
        ({"slug": "pro_monthly"}, "slug", "pattern"),
        ({"slug": "pro--monthly"}, "slug", "pattern"),
        ({"slug": "-pro"}, "slug", "pattern"),
        ({"slug": "pro-"}, "slug", "pattern"),
        ({"slug": "pro monthly"}, "slug", "pattern"),
        ({"slug": "pro\n"}, "slug", "pattern"),
        ({"slug": 5}, "slug", "string"),
        ({"slug": None}, "slug", "string"),
        ({"slug": "pro", "active": None}, "active", "boolean"),
        ({"slug": "pro", "active": "true"}, "active", "boolean"),
        ({"slug": "pro", "metadata": None}, "metadata", "dictionary"),
        ({"slug": "pro", "metadata": {"k": "v" * 501}}, "metadata", "500"),
        ({"slug": "pro", "metadata": {"bad key": "v"}}, "metadata", "key"),
        ({"slug": "pro", "metadata": {f"k{i}": "v" for i in range(51)}}, "metadata", "50 keys"),
        ({"slug": "pro", "url": "https://x"}, "url", "unknown"),
        ({}, "slug", "required"),
    ],
)
async def test_validation(client: Any, tenant: Any, body: dict[str, Any], path: str, issue: str) -> None:
    plan = await make_plan(client, tenant)
    invalid(await create(client, tenant, planId=plan["id"], **body), path, issue)
    assert await links(client, tenant) == []


async def test_plan_id_is_required_and_must_exist(client: Any, tenant: Any) -> None:
    invalid(await create(client, tenant, slug="pro"), "planId", "required")
    invalid(await create(client, tenant, slug="pro", planId=None), "planId", "string")
    e = not_found(await create(client, tenant, slug="pro", planId=UNKNOWN_PLAN))
    assert [d["path"] for d in e["details"]] == ["planId"]
    live_plan = await make_plan(client, tenant, "live")  # another mode's plan does not exist here
    e = not_found(await create(client, tenant, slug="pro", planId=live_plan["id"]))
    assert [d["path"] for d in e["details"]] == ["planId"]
    assert await links(client, tenant) == []


async def test_archived_plan_cannot_get_a_link(client: Any, tenant: Any) -> None:
    plan = await make_plan(client, tenant)
    ok(await client.patch(f"/v1/plans/{plan['id']}", json={"active": False}, headers=tenant.auth()))
    err(await create(client, tenant, planId=plan["id"], slug="pro"), 409, "conflict", "plan_inactive")
    assert await links(client, tenant) == []


async def test_slugs_are_unique_per_tenant_and_mode(client: Any, tenant: Any, make_tenant: Any) -> None:
    first = await make_link(client, tenant, slug="summer")
    other_plan = await make_plan(client, tenant)
    err(await create(client, tenant, planId=other_plan["id"], slug="summer"), 409, "conflict", "duplicate_slug")
    await make_link(client, tenant, "live", slug="summer")  # the other mode is another namespace
    other = await make_tenant("Other")
    await make_link(client, other, slug="summer")  # and so is another tenant
    assert await links(client, tenant) == [first["id"]]


async def test_concurrent_creations_with_one_slug(client: Any, tenant: Any) -> None:
    import asyncio

    plan = await make_plan(client, tenant)
    answers = await asyncio.gather(*(create(client, tenant, planId=plan["id"], slug="contested") for _ in range(10)))
    assert sorted(r.status_code for r in answers) == [201] + [409] * 9
    for r in answers:
        if r.status_code == 409:
            err(r, 409, "conflict", "duplicate_slug")
    winner = next(r.json() for r in answers if r.status_code == 201)
    assert await links(client, tenant) == [winner["id"]]


async def test_idempotent_replay(client: Any, tenant: Any) -> None:
    plan = await make_plan(client, tenant)
    key = {"Idempotency-Key": "plink-create-1"}
    first = await create(client, tenant, headers=key, planId=plan["id"], slug="pro")
    again = await create(client, tenant, headers=key, planId=plan["id"], slug="pro")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["original-request-id"] == first.headers["x-request-id"]
    assert await links(client, tenant) == [first.json()["id"]]
    err(
        await create(client, tenant, headers=key, planId=plan["id"], slug="other"),
        422,
        "validation_error",
        "idempotency_key_reused",
    )
    # A stored 409 replays too, even once the slug would be free.
    dup_key = {"Idempotency-Key": "plink-create-2"}
    refused = await create(client, tenant, headers=dup_key, planId=plan["id"], slug="pro")
    err(refused, 409, "conflict", "duplicate_slug")
    ok(await client.patch(f"/v1/payment-links/{first.json()['id']}", json={"slug": "renamed"}, headers=tenant.auth()))
    replay = await create(client, tenant, headers=dup_key, planId=plan["id"], slug="pro")
    assert (replay.status_code, replay.content) == (409, refused.content)


async def test_patch(client: Any, tenant: Any) -> None:
    link = await make_link(client, tenant, slug="pro", metadata={"a": "1", "b": "2"})
    url = f"/v1/payment-links/{link['id']}"
    updated = ok(
        await client.patch(
            url, json={"slug": "pro-2025", "active": False, "metadata": {"c": "3"}}, headers=tenant.auth()
        )
    )
    assert updated["slug"] == "pro-2025"
    assert updated["active"] is False
    assert updated["metadata"] == {"c": "3"}  # replaced whole
    assert updated["url"] == f"http://localhost:8000/pay/{tenant.slug}/pro-2025?mode=test"
    assert updated["planId"] == link["planId"]
    assert updated["createdAt"] == link["createdAt"]
    assert updated["updatedAt"] >= link["updatedAt"]
    assert ok(await client.get(url, headers=tenant.auth())) == updated
    cleared = ok(await client.patch(url, json={"metadata": {}}, headers=tenant.auth()))
    assert cleared["metadata"] == {}
    same = ok(await client.patch(url, json={}, headers=tenant.auth()))
    assert same == cleared  # a no-op PATCH leaves updatedAt alone


async def test_patch_slug_to_a_taken_one(client: Any, tenant: Any) -> None:
    a = await make_link(client, tenant, slug="a")
    b = await make_link(client, tenant, slug="b", planId=a["planId"])
    err(
        await client.patch(f"/v1/payment-links/{b['id']}", json={"slug": "a"}, headers=tenant.auth()),
        409,
        "conflict",
        "duplicate_slug",
    )
    assert ok(await client.get(f"/v1/payment-links/{b['id']}", headers=tenant.auth())) == b
    # Keeping one's own slug is no conflict.
    assert ok(await client.patch(f"/v1/payment-links/{a['id']}", json={"slug": "a"}, headers=tenant.auth())) == a


@pytest.mark.parametrize(
    ("body", "path", "issue"),
    [
        ({"planId": UNKNOWN_PLAN}, "planId", "unknown or read-only field"),
        ({"url": "https://x"}, "url", "unknown or read-only field"),
        ({"id": "plink_01AAAAAAAAAAAAAAAAAAAAAAAA"}, "id", "unknown or read-only field"),
        ({"slug": None}, "slug", "cannot be null"),
        ({"active": None}, "active", "cannot be null"),
        ({"metadata": None}, "metadata", "cannot be null"),
        ({"slug": "Bad Slug"}, "slug", "pattern"),
        ({"slug": ""}, "slug", "at least 1"),
        ({"slug": "a" * 65}, "slug", "at most 64"),
        ({"active": 1}, "active", "boolean"),
        ({"metadata": {"k": "v" * 501}}, "metadata", "500"),
    ],
)
async def test_patch_validation(client: Any, tenant: Any, body: dict[str, Any], path: str, issue: str) -> None:
    link = await make_link(client, tenant, slug="pro")
    url = f"/v1/payment-links/{link['id']}"
    invalid(await client.patch(url, json={"active": False, **body}, headers=tenant.auth()), path, issue)
    assert ok(await client.get(url, headers=tenant.auth())) == link  # nothing changed


async def test_list_filters(client: Any, tenant: Any) -> None:
    plan_a = await make_plan(client, tenant)
    plan_b = await make_plan(client, tenant)
    a1 = await make_link(client, tenant, slug="a1", planId=plan_a["id"])
    b1 = await make_link(client, tenant, slug="b1", planId=plan_b["id"], active=False)
    a2 = await make_link(client, tenant, slug="a2", planId=plan_a["id"])
    assert await links(client, tenant) == [a2["id"], b1["id"], a1["id"]]
    assert await links(client, tenant, query="?active=true") == [a2["id"], a1["id"]]
    assert await links(client, tenant, query="?active=false") == [b1["id"]]
    assert await links(client, tenant, query=f"?planId={plan_a['id']}") == [a2["id"], a1["id"]]
    assert await links(client, tenant, query=f"?planId={plan_b['id']}&active=true") == []
    e = not_found(await client.get(f"/v1/payment-links?planId={UNKNOWN_PLAN}", headers=tenant.auth()))
    assert [d["path"] for d in e["details"]] == ["planId"]
    invalid(await client.get("/v1/payment-links?active=maybe", headers=tenant.auth()), "active", "boolean")


async def test_pagination(client: Any, tenant: Any) -> None:
    plan = await make_plan(client, tenant)
    made = [(await make_link(client, tenant, slug=f"link-{n}", planId=plan["id"]))["id"] for n in range(5)]
    expected = list(reversed(made))
    first = ok(await client.get("/v1/payment-links?limit=2", headers=tenant.auth()))
    assert ([i["id"] for i in first["items"]], first["hasMore"]) == (expected[:2], True)
    assert first["nextCursor"] == expected[1]
    second = ok(await client.get(f"/v1/payment-links?limit=2&cursor={first['nextCursor']}", headers=tenant.auth()))
    assert [i["id"] for i in second["items"]] == expected[2:4]
    third = ok(await client.get(f"/v1/payment-links?limit=2&cursor={second['nextCursor']}", headers=tenant.auth()))
    assert ([i["id"] for i in third["items"]], third["hasMore"], third["nextCursor"]) == ([expected[4]], False, None)
    err(
        await client.get(f"/v1/payment-links?cursor={plan['id']}", headers=tenant.auth()),
        400,
        "bad_request",
        "invalid_cursor",
    )
    invalid(await client.get("/v1/payment-links?limit=0", headers=tenant.auth()), "limit", "")
    invalid(await client.get("/v1/payment-links?limit=101", headers=tenant.auth()), "limit", "")


async def test_credentials(client: Any, tenant: Any) -> None:
    link = await make_link(client, tenant, slug="pro")
    url = f"/v1/payment-links/{link['id']}"
    err(await client.get(url), 401, "unauthorized", "missing_credential")
    bad = {"Authorization": f"Bearer {unknown_key()}"}
    err(await client.get(url, headers=bad), 401, "unauthorized", "invalid_credential")
    err(await client.get("/v1/payment-links", headers=bad), 401, "unauthorized", "invalid_credential")
    err(await client.patch(url, json={"active": False}, headers=bad), 401, "unauthorized", "invalid_credential")
    body = {"planId": link["planId"], "slug": "via-pk"}
    err(await client.post("/v1/payment-links", json=body, headers=bad), 401, "unauthorized", "invalid_credential")
    pk = tenant.auth("test", "publishable")
    err(await client.post("/v1/payment-links", json=body, headers=pk), 403, "forbidden", "publishable_key_not_allowed")
    err(await client.get(url, headers=pk), 403, "forbidden", "publishable_key_not_allowed")
    err(await client.get("/v1/payment-links", headers=pk), 403, "forbidden", "publishable_key_not_allowed")
    err(await client.patch(url, json={"active": False}, headers=pk), 403, "forbidden", "publishable_key_not_allowed")
    assert await links(client, tenant) == [link["id"]]
    assert ok(await client.get(url, headers=tenant.auth())) == link


async def test_other_tenant_and_other_mode_get_404(client: Any, tenant: Any, make_tenant: Any) -> None:
    link = await make_link(client, tenant, slug="pro")
    url = f"/v1/payment-links/{link['id']}"
    other = await make_tenant("Other")
    for headers in (other.auth(), tenant.auth("live")):
        not_found(await client.get(url, headers=headers))
        not_found(await client.patch(url, json={"active": False, "slug": "stolen"}, headers=headers))
        # The other tenant's (or mode's) plan id is unknown here too.
        e = not_found(
            await client.post("/v1/payment-links", json={"planId": link["planId"], "slug": "x"}, headers=headers)
        )
        assert [d["path"] for d in e["details"]] == ["planId"]
    assert ok(await client.get(url, headers=tenant.auth())) == link  # nothing changed
    assert await links(client, other) == []
    assert await links(client, tenant, "live") == []


async def test_unknown_id_is_404(client: Any, tenant: Any) -> None:
    not_found(await client.get("/v1/payment-links/plink_01AAAAAAAAAAAAAAAAAAAAAAAA", headers=tenant.auth()))
    not_found(await client.get("/v1/payment-links/nonsense%00", headers=tenant.auth()))
    not_found(
        await client.patch(
            "/v1/payment-links/plink_01AAAAAAAAAAAAAAAAAAAAAAAA", json={"active": True}, headers=tenant.auth()
        )
    )


async def test_openapi_documents_the_operations_and_their_errors(client: Any) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    ops = {
        ("post", "/v1/payment-links"): {"201", "400", "401", "403", "404", "409", "422", "429", "500"},
        ("get", "/v1/payment-links"): {"200", "400", "401", "403", "404", "422", "429", "500"},
        ("get", "/v1/payment-links/{link_id}"): {"200", "400", "401", "403", "404", "422", "429", "500"},
        ("patch", "/v1/payment-links/{link_id}"): {"200", "400", "401", "403", "404", "409", "422", "429", "500"},
    }
    for (method, path), statuses in ops.items():
        op = paths[path][method]
        assert statuses <= set(op["responses"]), (method, path)
        assert op["security"] == [{"bearer": []}]
        if method != "get":
            assert any(p["name"] == "Idempotency-Key" for p in op["parameters"])
    create_schema = paths["/v1/payment-links"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert create_schema["$ref"].endswith("/PaymentLinkOut")
