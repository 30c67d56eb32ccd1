"""Values handed to app code: dicts that also allow attribute access.

Cloudflare's Python SDK converts binding results to ``JsDict`` (a ``dict`` subclass with
attribute access, JS ``null`` → ``None``), so both ``result.results[0]`` and
``result["results"][0]`` appear in real code. ``JsObject`` is our equivalent.
"""

from __future__ import annotations

from typing import Any


class JsObject(dict):  # type: ignore[type-arg]
    """A dict whose keys are also attributes; nested dicts and lists are converted."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def to_py(self) -> "JsObject":
        """Pyodide's ``JsProxy.to_py()``: already Python, so itself."""
        return self


def to_js_object(value: Any) -> Any:
    """Recursively wrap dicts (and dicts inside lists) as ``JsObject``."""
    if isinstance(value, JsObject):
        return value
    if isinstance(value, dict):
        return JsObject({k: to_js_object(v) for k, v in value.items()})
    if isinstance(value, list):
        return [to_js_object(v) for v in value]
    return value
