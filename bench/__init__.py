"""Benchmarks: scripts that print figures (never asserted in tests), see bench/README.md.

A package so that ``python -m bench.report`` runs and the scripts share ``bench.results``.
"""
