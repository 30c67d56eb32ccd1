"""Helpers shared between test files (not fixtures: those live in conftest.py files)."""
