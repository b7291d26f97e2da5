"""Payment links' public pages (06 §5): the pay page `/pay/{tenantSlug}/{slug}` (a landing page whose Continue
form starts a checkout session) and the store `/store/{tenantSlug}`, branded with the published appearance."""
