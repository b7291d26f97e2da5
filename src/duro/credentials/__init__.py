"""API keys and OAuth clients of one mode."""
