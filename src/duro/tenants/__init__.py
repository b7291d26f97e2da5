"""Tenants (merchants) and their owner member, in `core`."""
