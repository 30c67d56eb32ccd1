"""Helpers shared between test files (never imported from conftest.py)."""
