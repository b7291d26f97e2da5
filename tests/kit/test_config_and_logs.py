"""Settings rules (01 §10) and request logging with redaction (01 §6)."""

from __future__ import annotations

import io
import logging
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from duro.config import Settings
from duro.kit.logs import JsonFormatter


def test_production_requires_database_secret_and_https() -> None:
    with pytest.raises(ValidationError, match="DURO_DATABASE_URL"):
        Settings(_env_file=None, env="production")  # type: ignore[call-arg]
    ok = Settings(
        _env_file=None,  # type: ignore[call-arg]
        env="production",
        database_url="postgresql+asyncpg://u@db/duro",
        secret_key="s" * 40,
        public_url="https://billing.example.com/",
    )
    assert ok.public_url == "https://billing.example.com"
    assert ok.effective_log_format == "json"


def test_short_secret_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="32 bytes"):
        Settings(_env_file=None, secret_key="short")  # type: ignore[call-arg]


def test_masked_settings_hide_secrets() -> None:
    s = Settings(_env_file=None, secret_key="k" * 40, database_url="postgresql+asyncpg://u:pw@h/d")  # type: ignore[call-arg]
    masked = s.masked()
    assert masked["DURO_SECRET_KEY"] == "********"
    assert masked["DURO_DATABASE_URL"] == "********"
    assert "k" * 40 not in str(masked)
    assert masked["DURO_RATE_LIMIT_TEST"] == 25


async def test_request_log_line_has_context_and_no_secrets(client: Any, tenant: Any) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("duro.http")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        r = await client.post(
            "/v1/customers",
            json={"email": "x@example.com"},
            headers={**tenant.auth(), "X-Request-Id": "client-42"},
        )
        assert r.status_code == 201
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    request_lines = [entry for entry in lines if entry["msg"] == "request"]
    assert len(request_lines) == 1
    entry = request_lines[0]
    assert entry["requestId"] == r.headers["x-request-id"]
    assert entry["clientRequestId"] == "client-42"
    assert entry["tenant"] == tenant.id
    assert entry["mode"] == "test"
    assert entry["status"] == 201
    assert entry["credentialId"].startswith("key_")
    assert tenant.test_secret not in stream.getvalue()
