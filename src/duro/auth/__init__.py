"""Credential resolution -> Principal -> RepositoryContext."""
