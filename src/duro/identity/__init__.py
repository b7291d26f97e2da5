"""Phone identities proven by a WhatsApp OTP (06 §6): one person across all tenants, payment methods per mode."""
