"""Shared code of the fusou-web Pages Functions (auth, input checks, the D1 index)."""
