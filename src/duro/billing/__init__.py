"""Pure billing domain logic: period arithmetic, proration, payday rules and the lifecycle state machine.

Nothing in this package performs I/O or reads the clock; callers pass plain values and aware UTC datetimes.
"""
