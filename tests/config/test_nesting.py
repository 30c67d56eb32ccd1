"""The nesting limits' shared parts: the problem record and the recursion headroom."""

from __future__ import annotations

import sys

import pytest

from emulator.config.nesting import NESTING_ID, TOML_INLINE_MESSAGE, NestingProblem, recursion_headroom


def test_problem_tells_wranglers_rule_from_ours() -> None:
    assert (NestingProblem(5, 0, wrangler=True).message, NestingProblem(5, 0, wrangler=True).id) == (
        TOML_INLINE_MESSAGE, None)
    ours = NestingProblem(5, 0, wrangler=False)
    assert ours.id == NESTING_ID and "3000 levels" in ours.message


def test_recursion_headroom_is_restored_even_on_error() -> None:
    before = sys.getrecursionlimit()
    with pytest.raises(ValueError):
        with recursion_headroom(5000):
            assert sys.getrecursionlimit() == before + 5000

            def down(n: int) -> int:
                return 0 if n == 0 else 1 + down(n - 1)

            assert down(before + 2000) == before + 2000
            raise ValueError
    assert sys.getrecursionlimit() == before
