"""Customers: a tenant's record of a person who pays (03 §1.2)."""
