"""Test clocks: frozen, manually advanced time for test-mode subscriptions (03 §12)."""
