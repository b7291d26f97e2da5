"""The events outbox and `/v1/events` (05 §2, §9)."""
