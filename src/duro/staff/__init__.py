"""The staff console (02 §10, 07 §14): KYC review for Duro's own staff, behind DURO_STAFF_KEY."""
