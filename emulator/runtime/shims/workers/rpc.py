"""``python_to_rpc`` / ``python_from_rpc``: the SDK's conversions at the RPC boundary.

Production converts Python values to JS before they cross Workers RPC and JS values back
afterwards (docs/python-workers.md, "Binding results"). The emulator's bindings take and
return Python values directly, so app code rarely needs these; when it calls them, they
give what the SDK gives: raw JS values (``pyodide.ffi.JsProxy``) from ``python_to_rpc``,
converted Python values (dicts with attribute access, lists, ``datetime``) from
``python_from_rpc``, and the same ``TypeError`` for values RPC cannot carry.
"""

from __future__ import annotations

import datetime
import inspect
from typing import Any

from emulator.jsobject import ConvertedBuffer, ConvertedList, JsObject
from emulator.runtime.jsproxy import (
    JsArray,
    JsBuffer,
    JsDate,
    JsException,
    JsMap,
    JsNull,
    JsObjectProxy,
    JsProxy,
    JsSet,
    JsUint8Array,
    PyProxy,
    jsnull,
    object_from_entries,
)

__all__ = ["python_from_rpc", "python_to_rpc"]


def _refuse(value: Any) -> None:
    """The SDK's checks: what RPC cannot carry raises ``TypeError``, nested or not."""
    if callable(value) and not isinstance(value, type):
        return
    if isinstance(value, (tuple, bytearray)):
        raise TypeError(f"{type(value)} cannot be sent over RPC.")
    if inspect.isawaitable(value):
        raise TypeError(f"Awaitable {type(value)} cannot be sent over RPC.")
    if type(value).__name__ == "Pattern" and type(value).__module__ == "re":
        raise TypeError("RegExp cannot be sent over RPC.")
    if isinstance(value, dict):
        for item in value.values():
            _refuse(item)
    elif isinstance(value, (list, set, frozenset)):
        for item in value:
            _refuse(item)


def _to_rpc(value: Any) -> Any:
    if value is None:
        return jsnull
    if isinstance(value, (str, int, float, bool, JsProxy, JsNull)):
        return value
    js_object = getattr(value, "js_object", None)
    if js_object is not None:
        return js_object
    if isinstance(value, datetime.datetime):
        return JsDate(value.timestamp() * 1000)
    if isinstance(value, BaseException):
        return JsException("Error", str(value))
    if isinstance(value, dict):
        return object_from_entries((k, _to_rpc(v)) for k, v in value.items())
    if isinstance(value, list):
        return JsArray(_to_rpc(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return JsSet(value)
    if isinstance(value, (bytes, memoryview)):
        return JsUint8Array(bytes(value))
    if callable(value) and not isinstance(value, type):
        return PyProxy(value)
    return value


def python_to_rpc(value: Any) -> Any:
    """A Python value as the JS value Workers RPC would carry (``None`` → JS ``null``)."""
    if value is None:
        return jsnull
    _refuse(value)
    return _to_rpc(value)


def _from_rpc(value: Any) -> Any:
    if value is None or isinstance(value, JsNull):
        return None
    if isinstance(value, JsDate):
        return datetime.datetime.fromtimestamp(value.getTime() / 1000)
    if isinstance(value, JsException):
        return Exception(str(value))
    if isinstance(value, JsBuffer):
        return ConvertedBuffer(value)
    if isinstance(value, (JsObjectProxy, JsMap)) or (isinstance(value, dict) and not isinstance(value, JsObject)):
        return JsObject({k: _from_rpc(v) for k, v in value.items()})
    if isinstance(value, JsObject):
        return JsObject({k: _from_rpc(v) for k, v in value.items()})
    if isinstance(value, list):
        return ConvertedList(_from_rpc(v) for v in value)
    if isinstance(value, JsSet):
        return set(value)
    return value  # SDK objects (Request, Response, FormData, Blob) and class instances as they are


def python_from_rpc(obj: Any) -> Any:
    """A JS value from Workers RPC as Python: objects → dicts with attribute access, arrays →
    lists, ``Date`` → naive ``datetime``, buffers → bytes-like, ``null`` → ``None``."""
    return _from_rpc(obj)
