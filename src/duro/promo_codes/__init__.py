"""Promo codes: discounts redeemed at subscription creation and checkout (03 §1.7, §9)."""
