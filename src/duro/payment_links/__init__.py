"""Payment links: a shareable `/pay/{tenantSlug}/{slug}` URL that starts a checkout for one plan (03 §1.7)."""
