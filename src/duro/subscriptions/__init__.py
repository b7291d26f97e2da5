"""Subscriptions: creation with its first charge, reads, lifecycle actions (03 §4–§8, §13.3)."""
