"""Helpers shared between test files (not fixtures: plain functions and classes)."""
