"""KYC (02 §10): document uploads, submission, staff review; the live-mode cap itself is in duro.charges."""
