"""The append-only audit log (02 §9)."""
