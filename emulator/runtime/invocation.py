"""The per-event context of app code: which app is running, its env, ctx, and its output.

One process hosts every app, so "the current app" cannot be global state: it lives in
``contextvars``, which asyncio copies into every task. That gives

- ``workers.env`` / ``workers.wait_until`` (module ``__getattr__`` in the shim) the env and
  ``ctx`` of the event being handled, like the real SDK's global access to bindings;
- attribution of ``print()`` output: ``sys.stdout``/``sys.stderr`` are wrapped once by a
  stream that, inside an app's event, turns complete lines into
  ``platform.log.info("app:<name>", line)`` records, and outside any event writes through.
"""

from __future__ import annotations

import asyncio
import io
import sys
import threading
import traceback
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol
from collections.abc import Awaitable

from emulator.jsobject import JsObject

if TYPE_CHECKING:
    from emulator.runtime.host import BaseHost


class EventContext(Protocol):
    """What the ``workers`` module reads of an event's ``ctx``: a handler's
    ``ExecutionContext``, or a Durable Object's state."""

    def waitUntil(self, awaitable: Awaitable[Any]) -> None: ...  # noqa: N802 - Cloudflare spelling


class ExecutionContext:
    """``ctx`` of a handler: ``waitUntil`` / ``wait_until`` and ``passThroughOnException``."""

    def __init__(self, host: BaseHost) -> None:
        self._host = host
        self.pass_through = False

    @property
    def props(self) -> JsObject:
        # Made on first use: one context is built per request, and few handlers read it.
        d = self.__dict__
        if "_props" not in d:
            d["_props"] = JsObject()
        return d["_props"]  # type: ignore[no-any-return]  # cached in __dict__ by this property

    @props.setter
    def props(self, value: JsObject) -> None:
        self.__dict__["_props"] = value

    def waitUntil(self, awaitable: Awaitable[Any]) -> None:  # noqa: N802 - Cloudflare spelling
        """Keep work running after the response is sent (tracked so drain/shutdown await it)."""
        self._host.run_background(awaitable)

    wait_until = waitUntil

    def passThroughOnException(self) -> None:  # noqa: N802 - Cloudflare spelling
        self.pass_through = True

    pass_through_on_exception = passThroughOnException


class Invocation:
    """What the app code of one event may reach through the ``workers`` module.

    It also line-buffers the event's writes to stdout/stderr into log records (what used
    to be a separate ``AppOutput`` in a second context variable): one object and one
    ``ContextVar.set`` per event keep the request path cheap (bench/http.py), and the
    buffer is only created when the app actually prints. It is its own context manager
    (see ``invoke``), so entering an event allocates nothing else.
    """

    __slots__ = ("host", "env", "ctx", "thread", "_partial", "_token")

    def __init__(self, host: BaseHost, env: Any, ctx: EventContext) -> None:
        self.host = host
        self.env = env
        self.ctx = ctx
        # Writes from other threads (a thread pool the app uses) go straight through: log
        # records are only made on the event loop's thread.
        self.thread = threading.get_ident()
        self._partial: dict[str, str] | None = None

    def write(self, stream: str, text: str) -> None:
        partial = self._partial
        if partial is None:
            partial = self._partial = {}
        buffered = partial.get(stream, "") + text
        *lines, rest = buffered.split("\n")
        partial[stream] = rest
        for line in lines:
            self._emit(stream, line)

    def flush(self) -> None:
        partial = self._partial
        if not partial:
            return
        for stream, rest in list(partial.items()):
            if rest:
                self._emit(stream, rest)
        partial.clear()

    def __enter__(self) -> Invocation:
        # Checked on every event (test harnesses swap sys.stdout at will); inline, as the
        # streams are almost always wrapped already.
        if type(sys.stdout) is not _AppAwareStream or type(sys.stderr) is not _AppAwareStream:
            _ensure_capture()
        self._token = current.set(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self._partial:  # only when the app printed
                self.flush()
        finally:
            current.reset(self._token)

    def _emit(self, stream: str, line: str) -> None:
        _state.emitting = True
        try:
            self.host.platform.log.info(self.host.log_source, line.rstrip("\r"), stream=stream)
        finally:
            _state.emitting = False


# The event being handled, with its output buffer (None outside app code).
current: ContextVar[Invocation | None] = ContextVar("cf_emulator_invocation", default=None)
_state = threading.local()


class _AppAwareStream(io.TextIOBase):
    """Stands in for ``sys.stdout``/``sys.stderr``: app writes become log records."""

    def __init__(self, underlying: Any, name: str) -> None:
        self._underlying = underlying
        self._name = name

    def write(self, text: str) -> int:
        out = current.get()
        if out is None or getattr(_state, "emitting", False) or out.thread != threading.get_ident():
            return int(self._underlying.write(text) or 0)
        out.write(self._name, text)
        return len(text)

    def flush(self) -> None:
        # The wrapped stream may have been closed under us (a test harness's capture file).
        if not getattr(self._underlying, "closed", False):
            self._underlying.flush()

    def close(self) -> None:
        # The wrapped stream is not ours to close. IOBase.__del__ calls close() when a
        # replaced wrapper is collected, and Python 3.13 reports whatever that raises.
        return

    def isatty(self) -> bool:
        return bool(self._underlying.isatty())

    def fileno(self) -> int:
        return int(self._underlying.fileno())

    @property
    def encoding(self) -> str:  # type: ignore[override]  # a read-only property over the underlying stream's
        return str(getattr(self._underlying, "encoding", "utf-8"))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._underlying, name)


def _ensure_capture() -> None:
    # Checked on every event: test harnesses (pytest's capsys) swap sys.stdout at will.
    if not isinstance(sys.stdout, _AppAwareStream):
        sys.stdout = _AppAwareStream(sys.stdout, "stdout")
    if not isinstance(sys.stderr, _AppAwareStream):
        sys.stderr = _AppAwareStream(sys.stderr, "stderr")


# `with invoke(host, env, ctx):` runs the body as app code of ``host``: it sets
# ``workers.env`` and captures output. A class rather than ``@contextlib.contextmanager``:
# this runs once per request, and the generator machinery costs more than the work itself
# (bench/http.py).
invoke = Invocation


async def guarded_background(host: BaseHost, awaitable: Awaitable[Any]) -> None:
    """A ``waitUntil`` task: its failure is logged (as in workerd), never raised anywhere."""
    try:
        await awaitable
    except asyncio.CancelledError:
        raise
    except BaseException:  # noqa: BLE001 - app code may raise anything
        host.platform.log.error(host.log_source, "Uncaught (in waitUntil): "
                                + traceback.format_exc().rstrip())
    finally:
        out = current.get()
        if out is not None:
            out.flush()
