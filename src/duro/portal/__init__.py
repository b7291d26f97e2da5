"""The customer portal (06 §7): an identity's subscriptions at every merchant, and the actions merchants allow."""
