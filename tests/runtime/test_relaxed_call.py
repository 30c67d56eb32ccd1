"""relaxed_call drops the arguments a handler does not declare, as workerd does."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.runtime.relaxed_call import relaxed_call


def test_extra_positionals_are_dropped() -> None:
    def one(a: Any) -> Any:
        return a

    def none() -> str:
        return "none"

    assert relaxed_call(one, 1, 2, 3) == 1
    assert relaxed_call(none, 1, 2) == "none"


def test_bound_methods_and_varargs() -> None:
    class C:
        def m(self, batch: Any, env: Any = None) -> Any:
            return (batch, env)

    def star(*args: Any) -> Any:
        return args

    assert relaxed_call(C().m, "b", "e", "ctx") == ("b", "e")
    assert relaxed_call(star, 1, 2, 3) == (1, 2, 3)


def test_keywords_filtered() -> None:
    def f(a: Any, *, env: Any = None) -> Any:
        return (a, env)

    def g(**kw: Any) -> Any:
        return kw

    assert relaxed_call(f, 1, env=2, ctx=3) == (1, 2)
    assert relaxed_call(g, x=1) == {"x": 1}
    # A keyword naming an already-filled positional is dropped rather than a TypeError.
    assert relaxed_call(f, 1, a=5) == (1, None)


def test_missing_required_arguments_still_fail() -> None:
    def needs_two(a: Any, b: Any) -> Any:
        return a, b

    with pytest.raises(TypeError):
        relaxed_call(needs_two, 1)


def test_keywords_kept_depend_on_how_many_positionals_were_passed() -> None:
    # The accepted keywords are remembered per number of positionals: each call of the
    # same function must still get exactly what its own arguments allow.
    def f(a: Any, b: Any = "default", *, env: Any = None) -> Any:
        return (a, b, env)

    assert relaxed_call(f, 1, b=2, env=3, ctx=4) == (1, 2, 3)
    assert relaxed_call(f, 1, 9, b=2, env=3) == (1, 9, 3)
    assert relaxed_call(f, 1, 9, 8, b=2) == (1, 9, None)
    assert relaxed_call(f, 1, b=5) == (1, 5, None)

    class Entry:
        async def fetch(self, request: Any) -> Any:
            return request

    # The Worker fetch call: every keyword dropped, only the request passed.
    coro = relaxed_call(Entry().fetch, "req", "env", "ctx", ctx="ctx", env="env")
    with pytest.raises(StopIteration) as done:
        coro.send(None)
    assert done.value.value == "req"


def test_accepts_positional_says_whether_one_argument_is_passed() -> None:
    from emulator.runtime.relaxed_call import accepts_positional

    def none() -> None: ...

    def one(context: Any) -> None: ...

    def star(*args: Any) -> None: ...

    def keyword_only(*, context: Any = None) -> None: ...

    assert not accepts_positional(none) and not accepts_positional(keyword_only)
    assert accepts_positional(one) and accepts_positional(star) and accepts_positional(print)
