"""Hypothesis settings for the fuzz tests: bounded in the suite, longer on request.

In the suite every fuzz test runs a fixed, derandomized set of examples sized so that all of
them together take well under 30 s. To search longer (random examples, 50× as many)::

    HYPOTHESIS_PROFILE=fuzz .venv/bin/python -m pytest -k fuzz
    HYPOTHESIS_PROFILE=fuzz CFE_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest tests/bindings/r2/test_s3_fuzz.py

docs/testing.md lists the fuzz targets.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE_ENV = "HYPOTHESIS_PROFILE"
EXAMPLES_ENV = "CFE_FUZZ_EXAMPLES"
LONG_RUN_FACTOR = 50


def long_run() -> bool:
    return os.environ.get(PROFILE_ENV) == "fuzz"


def fuzz_settings(examples: int) -> settings:
    """``examples`` in the suite (always the same ones); many more, random, with ``fuzz``."""
    count = int(os.environ.get(EXAMPLES_ENV) or 0) or (examples * LONG_RUN_FACTOR if long_run() else examples)
    return settings(max_examples=count, deadline=None, derandomize=not long_run(), database=None,
                    suppress_health_check=list(HealthCheck))
