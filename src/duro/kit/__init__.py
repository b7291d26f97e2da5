"""Domain-agnostic tools: ids, money, clock, crypto, errors, JSON, pagination, rate limits."""
