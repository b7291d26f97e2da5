"""Charge attempts: open a transaction, call the gateway outside any transaction, record the outcome (03 §10)."""
