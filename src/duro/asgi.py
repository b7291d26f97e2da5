"""ASGI entry point for `duro serve` (uvicorn imports `duro.asgi:app`)."""

from duro.app import create_app
from duro.config import load_settings
from duro.kit.logs import configure_logging

_settings = load_settings()
configure_logging(_settings.log_level, _settings.effective_log_format)
app = create_app(_settings)
