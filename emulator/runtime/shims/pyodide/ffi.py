"""``pyodide.ffi`` on CPython: JS value types, conversions and proxies.

The values come from ``emulator.runtime.jsproxy`` (raw JS values are real objects there,
there is no JS engine behind them). Values the SDK already converted for the app (dicts
with attribute access, lists, bytes-like buffers, ``datetime``) are *not* ``JsProxy``, as
in production.
"""

from __future__ import annotations

from typing import Any

from emulator.runtime.jsproxy import (
    JsArray,
    JsBuffer,
    JsDate,
    JsException,
    JsMap,
    JsNull,
    JsObjectProxy,
    JsProxy,
    JsUint8Array,
    PyProxy,
    jsnull,
    run_coroutine_blocking,
    to_js,
)

__all__ = [
    "ConversionError", "IN_BROWSER", "JsArray", "JsBuffer", "JsCallable", "JsDate", "JsDomElement",
    "JsException", "JsFetchResponse", "JsMap", "JsMutableMap", "JsNull", "JsPromise", "JsProxy",
    "JsTypedArray", "create_once_callable", "create_proxy", "destroy_proxies", "jsnull", "run_sync",
    "to_js",
]

IN_BROWSER = False
JsMutableMap = JsMap
JsTypedArray = JsUint8Array
JsObject = JsObjectProxy


class ConversionError(Exception):
    """A value could not be converted between Python and JS."""


class JsCallable(JsProxy):
    """Type of callable JS values (for ``isinstance`` checks)."""


class JsPromise(JsProxy):
    """Type of JS promises (awaitables here)."""


class JsFetchResponse(JsProxy):
    """Type of JS ``Response`` objects."""


class JsDomElement(JsProxy):
    """Type of DOM elements (there is no DOM in Workers)."""


def create_proxy(obj: Any, /, *, capture_this: bool = False, roundtrip: bool = True) -> PyProxy:
    """A handle on ``obj`` that JS APIs can call; ``.destroy()`` releases it."""
    return PyProxy(obj)


def create_once_callable(obj: Any, /, *, _may_syncify: bool = False) -> PyProxy:
    """Like ``create_proxy``, for a callback JS calls once."""
    return PyProxy(obj)


def destroy_proxies(pyproxies: Any, /) -> None:
    for proxy in pyproxies or ():
        destroy = getattr(proxy, "destroy", None)
        if destroy is not None:
            destroy()


def run_sync(x: Any) -> Any:
    """The result of awaitable ``x`` from synchronous code (JSPI in production)."""
    return run_coroutine_blocking(x)
