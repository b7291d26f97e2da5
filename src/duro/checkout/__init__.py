"""Checkout (06 §2–3): sessions created by merchants, paid by customers on the hosted page or the overlay."""
