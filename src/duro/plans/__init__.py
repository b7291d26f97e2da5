"""Plans: a price and a billing interval (03 §1.1)."""
