"""Operational endpoints."""
