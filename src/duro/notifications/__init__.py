"""Customer billing and platform notifications (06 §9–10): templates, the outbox, providers, /v1/notifications."""
