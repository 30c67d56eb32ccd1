"""Calling app handlers the way workerd does: extra arguments are dropped.

workerd dispatches every Python handler through ``relaxed_call``
(``src/pyodide/internal/relaxed_call.py``): it inspects the handler's signature and
silently drops positional and keyword arguments the handler does not declare. So
``async def queue(self, batch)`` and ``async def queue(self, batch, env, ctx)`` are both
valid, and so is ``async def fetch(self)`` (the 08-cron example). We do the same.
"""

from __future__ import annotations

import inspect
from types import FunctionType
from typing import Any
from collections.abc import Callable

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class _Shape:
    __slots__ = ("max_positional", "keywords", "var_keyword", "positional_names", "_accepted")

    def __init__(self, fn: Callable[..., Any]) -> None:
        # Keywords a call with N positionals may pass, by N: computed once per N, so a
        # handler called on every request does not rebuild the set (bench/http.py).
        self._accepted: dict[int, frozenset[str]] = {}
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):  # builtins without a signature: pass everything
            self.max_positional: int | None = None
            self.keywords: set[str] | None = None
            self.var_keyword = True
            self.positional_names: list[str] = []
            return
        self.positional_names = [p.name for p in params if p.kind in _POSITIONAL]
        if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
            self.max_positional = None
        else:
            self.max_positional = sum(1 for p in params if p.kind in _POSITIONAL)
        self.var_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
        self.keywords = {
            p.name for p in params
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        }

    def accepted(self, positionals: int) -> frozenset[str]:
        """The keywords kept when ``positionals`` arguments are passed positionally."""
        accepted = self._accepted.get(positionals)
        if accepted is None:
            assert self.keywords is not None
            # A keyword that would duplicate a positional already passed is dropped too.
            accepted = frozenset(self.keywords - set(self.positional_names[:positionals]))
            self._accepted[positionals] = accepted
        return accepted


# Keyed by the underlying function (bound methods are created per instance).
_shapes: dict[Any, _Shape] = {}


def _shape(fn: Callable[..., Any]) -> _Shape:
    # A plain function is its own key; `getattr(fn, "__func__", fn)` would raise and catch
    # an AttributeError for it on every call.
    key = fn if type(fn) is FunctionType else getattr(fn, "__func__", fn)
    shape = _shapes.get(key)
    if shape is None:
        shape = _Shape(fn)
        if len(_shapes) < 10_000:  # reloads create new functions; keep the cache bounded
            _shapes[key] = shape
    return shape


def relaxed_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn`` with as many of ``args``/``kwargs`` as its signature accepts."""
    shape = _shape(fn)
    limit = shape.max_positional
    if limit is not None and len(args) > limit:
        args = args[:limit]
    if kwargs and not shape.var_keyword:
        accepted = shape.accepted(len(args))
        if not accepted:
            return fn(*args)
        kwargs = {k: v for k, v in kwargs.items() if k in accepted}
    return fn(*args, **kwargs)


def accepts_positional(fn: Callable[..., Any]) -> bool:
    """Whether ``relaxed_call(fn, x)`` passes ``x`` on (else it calls ``fn()``).

    For callers that call the same handler with one argument again and again (Pages
    Functions) and decide once.
    """
    return _shape(fn).max_positional != 0
