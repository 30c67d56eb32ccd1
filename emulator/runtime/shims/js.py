"""A tiny stand-in for Pyodide's ``js`` module, so copied Cloudflare code runs on CPython.

Covers what Python Workers examples reach for: ``JSON.stringify/parse``,
``Object.fromEntries``, ``console.log``, ``Date.now()``, and the old-style
``from js import Response, fetch, Headers``.
"""

from __future__ import annotations

import json as _json
import sys
import time
from typing import Any, Iterable

from emulator.jsobject import JsObject, to_js_object
from emulator.runtime.http import FormData, Headers, Request, Response, fetch

__all__ = ["JSON", "Object", "console", "Date", "Response", "Request", "Headers", "FormData", "fetch",
           "WebSocketPair", "WebSocketRequestResponsePair"]

# The runtime's WebSocket classes live with the Durable Objects binding (their hibernation API).
_WEBSOCKET_NAMES = ("WebSocketPair", "WebSocketRequestResponsePair", "WebSocket")


def __getattr__(name: str) -> Any:
    if name in _WEBSOCKET_NAMES:
        from emulator.bindings.durable_objects import websocket

        return getattr(websocket, name)
    raise AttributeError(f"module 'js' has no attribute {name!r}")


def _default(value: Any) -> Any:
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class JSON:
    @staticmethod
    def stringify(value: Any, replacer: Any = None, space: int | str | None = None) -> str:
        if space:
            return _json.dumps(value, indent=space, default=_default, ensure_ascii=False)
        return _json.dumps(value, separators=(",", ":"), default=_default, ensure_ascii=False)

    @staticmethod
    def parse(text: str | bytes) -> Any:
        return to_js_object(_json.loads(text))


class Object:
    @staticmethod
    def fromEntries(entries: Iterable[Any]) -> JsObject:  # noqa: N802 - JS spelling
        if isinstance(entries, dict):
            entries = entries.items()
        return JsObject((k, v) for k, v in entries)

    @staticmethod
    def keys(obj: dict[str, Any]) -> list[str]:
        return list(obj.keys())

    @staticmethod
    def values(obj: dict[str, Any]) -> list[Any]:
        return list(obj.values())

    @staticmethod
    def entries(obj: dict[str, Any]) -> list[list[Any]]:
        return [[k, v] for k, v in obj.items()]

    @staticmethod
    def new() -> JsObject:
        return JsObject()


def _fmt(args: tuple[Any, ...]) -> str:
    return " ".join(a if isinstance(a, str) else JSON.stringify(a) if isinstance(a, (dict, list)) else str(a)
                    for a in args)


class console:  # noqa: N801 - JS spelling
    """Writes go to stdout/stderr, which the emulator attributes to the running app."""

    @staticmethod
    def log(*args: Any) -> None:
        print(_fmt(args))

    info = log
    debug = log

    @staticmethod
    def warn(*args: Any) -> None:
        print(_fmt(args), file=sys.stderr)

    error = warn


class Date:
    @staticmethod
    def now() -> int:
        """Milliseconds since the epoch, on the emulator's clock while app code runs."""
        from emulator.runtime.invocation import current

        inv = current.get()
        if inv is not None:
            return int(inv.host.platform.clock.now_ms())
        return int(time.time() * 1000)
