"""The per-event context: ``ctx`` of a handler and ``invoke`` (current app, captured output)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from collections.abc import Callable

from emulator.jsobject import JsObject
from emulator.platform import Platform
from emulator.runtime import create_host
from emulator.runtime.invocation import ExecutionContext, current, invoke
from tests.helpers.apps import pages_config, write_files


def _host(tmp_path: Path, make_platform: Callable[..., Platform]) -> Any:
    write_files(tmp_path, {"public/index.html": "x"})
    config = pages_config(tmp_path)
    host = create_host(config, make_platform(config))
    host.load()
    return host


def test_ctx_props_is_one_object_per_context_and_assignable(tmp_path: Path, make_platform: Any) -> None:
    host = _host(tmp_path, make_platform)
    ctx = ExecutionContext(host)
    assert isinstance(ctx.props, JsObject) and ctx.props == {}
    ctx.props.user = "ada"
    assert ctx.props == {"user": "ada"}
    assert ExecutionContext(host).props == {}  # never shared between contexts
    ctx.props = JsObject(other=1)
    assert ctx.props.other == 1
    ctx.props = None  # type: ignore[assignment]  # what apps may assign
    assert ctx.props is None  # stays as assigned
    assert not ctx.pass_through
    ctx.passThroughOnException()
    assert ctx.pass_through


def test_invoke_sets_the_current_event_and_turns_prints_into_log_lines(
        tmp_path: Path, make_platform: Any) -> None:
    host = _host(tmp_path, make_platform)
    ctx = ExecutionContext(host)
    assert current.get() is None
    with invoke(host, {"MODE": "x"}, ctx) as inv:
        assert current.get() is inv and inv.env == {"MODE": "x"} and inv.ctx is ctx
        print("hello from the app", end="")
        with invoke(host, None, ctx) as inner:
            assert current.get() is inner
        assert current.get() is inv
    assert current.get() is None
    # The partial line is flushed when the event ends.
    assert host.platform.log.messages("info", host.log_source) == ["hello from the app"]


def test_dropping_the_output_wrapper_leaves_the_stream_it_wraps_alone() -> None:
    import gc
    import io
    import sys

    from emulator.runtime.invocation import _AppAwareStream

    class Capture(io.StringIO):
        """Like pytest's capture files: flushing after close raises."""

        def flush(self) -> None:
            if self.closed:
                raise ValueError("I/O operation on closed file.")

    underlying = Capture()
    seen: list[Any] = []
    previous, sys.unraisablehook = sys.unraisablehook, seen.append
    try:
        wrapper = _AppAwareStream(underlying, "stdout")
        wrapper.write("x")
        underlying.close()  # e.g. pytest's capture, closed before the swapped-in wrapper is collected
        wrapper.flush()
        del wrapper
        gc.collect()
    finally:
        sys.unraisablehook = previous
    # Python 3.13 reports exceptions from close() in IOBase.__del__: there must be none.
    assert seen == []
    open_one = io.StringIO()
    wrapper = _AppAwareStream(open_one, "stdout")
    wrapper.close()
    assert not open_one.closed  # the wrapper does not own the stream
