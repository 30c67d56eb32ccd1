"""Benchmarks, each run as a script (``python bench/<name>.py``; bench/README.md).

A package only so that tools name its modules ``bench.http``, ``bench.compaction``...: as
plain top-level modules they would clash with the standard library and the demo apps.
"""
