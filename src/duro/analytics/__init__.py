"""Recovery and revenue analytics (04 §7): the failures summary, the overview and the daily metrics snapshots."""
