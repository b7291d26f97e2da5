"""Invoices, transactions (charge attempts) and refunds (03 §1.5–§1.7, §13.4)."""
