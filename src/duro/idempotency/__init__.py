"""Idempotency-Key handling for mutating /v1 calls (01 §8)."""
