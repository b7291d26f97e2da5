"""ASGI entry point for `duro serve` (uvicorn imports `duro.asgi:app`)."""

import gc

from duro.app import create_app
from duro.config import load_settings
from duro.kit.logs import configure_logging

# Garbage collection tuned for a long-running server (bench/README.md): the objects made at import and app build
# (routes, models, tables, compiled schemas, ~200,000 of them) are moved out of the collector's reach, so a full
# collection no longer walks them every few hundred requests; a request's garbage is freed by reference counting,
# so young collections can wait for more allocations than the default 700.
GC_THRESHOLDS = (10_000, 20, 20)

_settings = load_settings()
configure_logging(_settings.log_level, _settings.effective_log_format)
app = create_app(_settings)
gc.collect()
gc.freeze()
gc.set_threshold(*GC_THRESHOLDS)
