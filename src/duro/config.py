"""Settings: environment first, then `.env.local`, then defaults (01 §10)."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Env = Literal["development", "test", "production"]

# Settings whose values are never printed in clear (`duro config`, logs).
SECRET_FIELDS = frozenset(
    {
        "secret_key",
        "staff_key",
        "smtp_password",
        "whatsapp_token",
        "s3_secret_access_key",
        "metrics_token",
        "database_url",
        "redis_url",
    }
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DURO_",
        env_file=".env.local",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    env: Env = "development"
    database_url: str | None = None
    data_dir: Path = Path("./.duro")
    secret_key: SecretStr | None = None
    public_url: str = "http://localhost:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    trusted_proxies: str = ""
    redis_url: str | None = None
    allow_signup: bool = True
    staff_key: SecretStr | None = None
    jwt_alg: Literal["HS256", "EdDSA"] = "HS256"
    jwt_private_key_file: Path | None = None
    currencies: str = "NGN,USD,GBP,EUR,GHS,KES,ZAR"
    default_phone_region: str = "NG"
    rate_limit_live: int = Field(default=100, ge=1)
    rate_limit_test: int = Field(default=25, ge=1)
    billing_scan_seconds: int = 60
    dunning_scan_seconds: int = 60
    webhook_poll_seconds: int = 5
    notify_poll_seconds: int = 5
    reminder_scan_seconds: int = 3600
    worker_concurrency: int = 8
    worker_batch: int = 50
    event_retention_days: int = 90
    webhook_allowed_ports: str = "443,8443"
    webhook_allow_insecure_test: bool = False
    email_provider: Literal["console", "smtp"] = "console"
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    email_from: str = "Duro <no-reply@localhost>"
    whatsapp_provider: Literal["console", "cloud"] = "console"
    whatsapp_token: SecretStr | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_api_version: str = "v21.0"
    whatsapp_api_base_url: str = "https://graph.facebook.com"
    whatsapp_otp_template: str = "duro_otp"
    whatsapp_language: str = "en"
    storage_backend: Literal["local", "s3"] = "local"
    # Directory of the `local` backend; unset → DURO_DATA_DIR/uploads (01 §10). Not in the spec's table.
    storage_dir: Path | None = None
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    log_level: str = "INFO"
    log_format: Literal["console", "json"] | None = None
    metrics_enabled: bool = False
    metrics_token: SecretStr | None = None
    # Simulated gateway latency per charge call (0 = answer at once). Real processors take hundreds of
    # milliseconds; this lets load and crash tests put charges in flight the way production would.
    simulator_latency_ms: int = Field(default=0, ge=0, le=10_000)
    # Pool size of the API process; not in the spec's table, tuned for a small box.
    db_pool_size: int = 20

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        return v.rstrip("/")

    @model_validator(mode="after")
    def _production_requirements(self) -> Settings:
        if self.env == "production":
            missing = []
            if not self.database_url:
                missing.append("DURO_DATABASE_URL")
            if self.secret_key is None:
                missing.append("DURO_SECRET_KEY")
            if not self.public_url.startswith("https://"):
                missing.append("an https DURO_PUBLIC_URL")
            if missing:
                raise ValueError("production requires " + ", ".join(missing))
        if self.secret_key is not None and len(self.secret_key.get_secret_value().encode()) < 32:
            raise ValueError("DURO_SECRET_KEY must be at least 32 bytes")
        if self.staff_key is not None and len(self.staff_key.get_secret_value()) < 32:
            raise ValueError("DURO_STAFF_KEY must be at least 32 characters")
        return self

    @property
    def effective_log_format(self) -> str:
        if self.log_format:
            return self.log_format
        return "console" if self.env == "development" else "json"

    @property
    def effective_storage_dir(self) -> Path:
        return self.storage_dir if self.storage_dir is not None else self.data_dir / "uploads"

    @cached_property
    def currency_list(self) -> tuple[str, ...]:
        return tuple(c.strip().upper() for c in self.currencies.split(",") if c.strip())

    @cached_property
    def root_secret(self) -> bytes:
        """The root of every derived key. Generated once into the data dir outside production."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / "secret"
        if path.exists():
            return path.read_text().strip().encode()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        path.write_text(value + "\n")
        path.chmod(0o600)
        return value.encode()

    def masked(self) -> dict[str, Any]:
        """Effective settings for display with secrets masked."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if name in SECRET_FIELDS and value:
                value = "********"
            if isinstance(value, Path):
                value = str(value)
            out[f"DURO_{name.upper()}"] = value
        return out


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
