"""Benchmarks: scripts that print figures (never asserted in tests), see bench/README.md.

A package so that ``python -m bench.report`` runs and the scripts share ``bench.results``,
and so that tools name its modules ``bench.http``, ``bench.compaction``...: as plain
top-level modules they would clash with the standard library and the demo apps.
"""
