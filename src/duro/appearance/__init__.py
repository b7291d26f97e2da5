"""Appearance builder (07 §4): the six surfaces, draft and publish, and the published view hosted pages read."""
