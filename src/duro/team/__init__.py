"""Team management: invitations, roles, removal and 2FA reset of dashboard members (02 §8)."""
