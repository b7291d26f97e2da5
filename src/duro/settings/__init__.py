"""Per-tenant, per-mode store settings (04 §6): recovery settings today."""
