"""``pyodide.ffi`` stand-ins: on CPython there is no JS boundary to cross.

``to_js`` returns its argument (dicts wrapped as ``JsObject`` so attribute access works),
``create_proxy`` returns its argument, ``JsProxy`` is the dict type binding results use.
"""

from __future__ import annotations

from typing import Any

from emulator.errors import JsError
from emulator.jsobject import JsObject, to_js_object

__all__ = ["JsProxy", "JsException", "to_js", "create_proxy", "create_once_callable", "destroy_proxies"]

JsProxy = JsObject


# Errors that would come from the JS side (binding errors with a JS `name` and `message`).
JsException = JsError


def to_js(value: Any, *, depth: int = -1, pyproxies: Any = None, create_pyproxies: bool = True,
          dict_converter: Any = None, default_converter: Any = None, **_: Any) -> Any:
    return to_js_object(value)


def create_proxy(obj: Any, *, capture_this: bool = False, roundtrip: bool = True) -> Any:
    return obj


def create_once_callable(obj: Any, *, _may_syncify: bool = False) -> Any:
    return obj


def destroy_proxies(proxies: Any) -> None:
    return None
