"""Assertions on /v1 HTTP answers shared by the API test modules (success, error envelope, 422 details)."""

from __future__ import annotations

import re
import secrets
import string
from typing import Any

import httpx

REQ_ID = re.compile(r"^req_[0-9A-HJKMNP-TV-Z]{26}$")
ERROR_FIELDS = {"code", "message", "reason", "details", "requestId"}


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    assert REQ_ID.match(r.headers["x-request-id"]), r.headers
    assert r.headers["content-type"].startswith("application/json")
    return r.json()


def err(r: httpx.Response, status: int, code: str, reason: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    rid = r.headers["x-request-id"]
    assert REQ_ID.match(rid)
    body = r.json()
    assert set(body) == {"error"}
    e: dict[str, Any] = body["error"]
    assert set(e) == (ERROR_FIELDS | {"payment"} if status == 402 else ERROR_FIELDS)  # payment only on a 402
    assert e["code"] == code
    assert e["reason"] == reason
    assert e["requestId"] == rid
    assert isinstance(e["message"], str)
    assert e["message"]
    assert isinstance(e["details"], list)
    for d in e["details"]:
        assert set(d) == {"path", "issue"}
        assert isinstance(d["path"], str)
        assert isinstance(d["issue"], str)
        assert d["issue"]
    return e


def invalid(r: httpx.Response, path: str, issue: str) -> dict[str, Any]:
    """A 422 whose details name `path` with an issue containing `issue`."""
    e = err(r, 422, "validation_error")
    issues = {d["path"]: d["issue"] for d in e["details"]}
    assert path in issues, e["details"]
    assert issue.lower() in issues[path].lower(), e["details"]
    return e


def not_found(r: httpx.Response) -> dict[str, Any]:
    return err(r, 404, "not_found", "resource_missing")


def unknown_key(prefix: str = "sk_test_") -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(43))
