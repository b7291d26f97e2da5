"""Recovery (04): dunning schedules, the decisions that drive them, and the endpoints that show them."""
