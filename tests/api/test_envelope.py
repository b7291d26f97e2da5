"""The error envelope, request ids and body limits that every /v1 answer shares (01 §4-§6)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from duro.api.middleware import MAX_BODY
from duro.customers import service as customer_service
from tests.conftest import TenantKeys

REQUEST_ID = re.compile(r"^req_[0-9A-HJKMNP-TV-Z]{26}$")
ENVELOPE_KEYS = {"code", "message", "reason", "details", "requestId"}


def assert_envelope(r: httpx.Response, status: int, code: str, reason: str | None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == ENVELOPE_KEYS  # `payment` only ever on a 402
    assert (error["code"], error["reason"]) == (code, reason)
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["details"], list)
    for detail in error["details"]:
        assert set(detail) == {"path", "issue"}
    assert REQUEST_ID.match(r.headers["x-request-id"])
    assert error["requestId"] == r.headers["x-request-id"]
    return error


# --- unknown routes ---


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/nothing-here"),
        ("GET", "/v1"),
        ("POST", "/v1/customers/cus_01JGFJJZ4V8Q2M6T3X9K0D5R7B/explode"),
        ("PUT", "/v1/customers"),  # known path, unknown method
        ("DELETE", "/v1/plans/plan_01JGFJJZ4V8Q2M6T3X9K0D5R7B"),
    ],
)
async def test_unknown_route_with_a_credential(client: Any, tenant: TenantKeys, method: str, path: str) -> None:
    r = await client.request(method, path, headers=tenant.auth())
    assert_envelope(r, 404, "not_found", "unknown_route")


async def test_unknown_v1_route_without_a_credential_is_401_first(client: Any) -> None:
    r = await client.get("/v1/nothing-here")
    assert_envelope(r, 401, "unauthorized", "missing_credential")


async def test_unknown_route_outside_v1(client: Any) -> None:
    r = await client.get("/nothing-here")
    assert_envelope(r, 404, "not_found", "unknown_route")


# --- request ids ---


async def test_every_answer_has_a_fresh_request_id(
    client: Any, tenant: TenantKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def explode(ctx: Any, customer_id: str) -> Any:
        raise RuntimeError("database on fire")

    answers = {
        "200": await client.get("/v1/customers", headers=tenant.auth()),
        "201": await client.post("/v1/customers", json={"name": "X"}, headers=tenant.auth()),
        "400": await client.post(
            "/v1/customers", content=b"{", headers={**tenant.auth(), "Content-Type": "application/json"}
        ),
        "401": await client.get("/v1/customers"),
        "403": await client.get("/v1/customers", headers=tenant.auth("test", "publishable")),
        "404": await client.get("/v1/customers/cus_01JGFJJZ4V8Q2M6T3X9K0D5R7B", headers=tenant.auth()),
        "422": await client.post("/v1/customers", json={"email": "nope"}, headers=tenant.auth()),
        "healthz": await client.get("/healthz"),
        "docs": await client.get("/openapi.json"),
    }
    monkeypatch.setattr(customer_service, "get_customer", explode)
    answers["500"] = await client.get("/v1/customers/cus_01JGFJJZ4V8Q2M6T3X9K0D5R7B", headers=tenant.auth())
    monkeypatch.undo()

    ids = [r.headers["x-request-id"] for r in answers.values()]
    assert all(REQUEST_ID.match(i) for i in ids)
    assert len(set(ids)) == len(ids)
    for name, r in answers.items():
        if name.isdigit():
            assert r.status_code == int(name), (name, r.text)
        if r.status_code >= 400:
            assert r.json()["error"]["requestId"] == r.headers["x-request-id"], name


async def test_internal_error_envelope_hides_the_cause(
    client: Any, tenant: TenantKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def explode(ctx: Any, customer_id: str) -> Any:
        raise RuntimeError("secret internals: sk_test_should_never_leak")

    monkeypatch.setattr(customer_service, "get_customer", explode)
    r = await client.get("/v1/customers/cus_01JGFJJZ4V8Q2M6T3X9K0D5R7B", headers=tenant.auth())
    error = assert_envelope(r, 500, "internal_error", "internal_error")
    assert error["details"] == []
    assert "secret internals" not in r.text
    assert "RuntimeError" not in r.text


async def test_client_request_id_is_not_reused(client: Any, tenant: TenantKeys) -> None:
    mine = "req_01JGFK0Q3S6W4ZB1N8Y2C7D9EH"
    ok = await client.get("/v1/customers", headers={**tenant.auth(), "X-Request-Id": mine})
    assert ok.status_code == 200
    assert REQUEST_ID.match(ok.headers["x-request-id"])
    assert ok.headers["x-request-id"] != mine
    assert ok.headers.get_list("x-request-id") == [ok.headers["x-request-id"]]

    failed = await client.get("/v1/customers", headers={"X-Request-Id": mine})
    error = assert_envelope(failed, 401, "unauthorized", "missing_credential")
    assert error["requestId"] != mine
    assert mine not in failed.text


# --- bodies ---


async def test_body_over_one_mebibyte_is_400(client: Any, tenant: TenantKeys) -> None:
    too_big = b'{"name":"x"}' + b" " * (MAX_BODY - 11)
    assert len(too_big) == MAX_BODY + 1
    r = await client.post(
        "/v1/customers", content=too_big, headers={**tenant.auth(), "Content-Type": "application/json"}
    )
    assert_envelope(r, 400, "bad_request", "payload_too_large")
    listed = await client.get("/v1/customers", headers=tenant.auth())
    assert listed.json()["items"] == []


async def test_body_of_exactly_one_mebibyte_is_accepted(client: Any, tenant: TenantKeys) -> None:
    exact = b'{"name":"x"}' + b" " * (MAX_BODY - 12)
    assert len(exact) == MAX_BODY
    r = await client.post("/v1/customers", content=exact, headers={**tenant.auth(), "Content-Type": "application/json"})
    assert r.status_code == 201, r.text


async def test_streamed_body_over_one_mebibyte_without_content_length_is_400(client: Any, tenant: TenantKeys) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name":"'
        for _ in range(17):
            yield b"x" * 65536
        yield b'"}'

    r = await client.post(
        "/v1/customers", content=chunks(), headers={**tenant.auth(), "Content-Type": "application/json"}
    )
    assert "content-length" not in r.request.headers
    assert_envelope(r, 400, "bad_request", "payload_too_large")


async def test_declared_length_over_the_limit_is_refused_up_front(client: Any, tenant: TenantKeys) -> None:
    r = await client.post(
        "/v1/customers",
        content=b"{}",
        headers={**tenant.auth(), "Content-Type": "application/json", "Content-Length": str(MAX_BODY + 1)},
    )
    assert_envelope(r, 400, "bad_request", "payload_too_large")


async def test_oversized_token_request_is_400(client: Any) -> None:
    r = await client.post(
        "/v1/oauth/token",
        content=b"grant_type=client_credentials&pad=" + b"x" * MAX_BODY,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_envelope(r, 400, "bad_request", "payload_too_large")


@pytest.mark.parametrize(
    ("content", "content_type", "reason"),
    [
        (b"{", "application/json", "malformed_json"),
        (b"[1, 2]", "application/json", "malformed_json"),
        (b'"a string"', "application/json", "malformed_json"),
        (b"name=x", "application/x-www-form-urlencoded", "unsupported_media_type"),
        (b'{"name": "x"}', "text/plain", "unsupported_media_type"),
        (b'{"name": "x"}', "", "unsupported_media_type"),
    ],
)
async def test_bodies_that_cannot_be_understood(
    client: Any, tenant: TenantKeys, content: bytes, content_type: str, reason: str
) -> None:
    headers = {**tenant.auth()}
    if content_type:
        headers["Content-Type"] = content_type
    r = await client.post("/v1/customers", content=content, headers=headers)
    assert_envelope(r, 400, "bad_request", reason)


async def test_json_with_charset_is_accepted(client: Any, tenant: TenantKeys) -> None:
    r = await client.post(
        "/v1/customers",
        content=b'{"name": "Ad\xc3\xa1"}',
        headers={**tenant.auth(), "Content-Type": "application/json; charset=utf-8"},
    )
    assert r.status_code == 201
    assert r.json()["name"] == "Adá"


async def test_validation_error_details(client: Any, tenant: TenantKeys) -> None:
    r = await client.post(
        "/v1/customers", json={"email": "nope", "merchantRef": 5, "surprise": True}, headers=tenant.auth()
    )
    error = assert_envelope(r, 422, "validation_error", None)
    assert {d["path"] for d in error["details"]} == {"email", "merchantRef", "surprise"}
