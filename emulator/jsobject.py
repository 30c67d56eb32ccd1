"""Values handed to app code, shaped as Cloudflare's Python SDK hands binding results over.

Cloudflare's SDK (workers-runtime-sdk, ``python_from_rpc``) converts what a binding returns
before app code sees it (docs/python-workers.md, "Binding results"):

- JS objects become ``JsDict``: a ``dict`` with attribute access (``row.title`` and
  ``row["title"]``); ``JsObject`` is our equivalent;
- JS arrays become Python ``list``s: ``ConvertedList`` here;
- ``ArrayBuffer`` / typed arrays become ``memoryview``s: ``ConvertedBuffer`` here, a
  ``bytes`` subclass (``memoryview`` cannot be subclassed) that also answers the
  ``memoryview`` methods apps call (``tobytes()``, ``tolist()``, ``nbytes``, ...).

Code written before the SDK converted results still calls Pyodide's proxy methods on them:
``results.to_py()``, ``(await obj.arrayBuffer()).to_bytes()``. Production raises
``AttributeError`` for those now; here they keep working (returning the value itself, or
its bytes) and are reported once per app, except under ``dev --strict-runtime``, where they
raise as in production (``emulator.runtime.strict``).
"""

from __future__ import annotations

from typing import Any


def _legacy(value: Any, production_type: str, attr: str) -> None:
    # Imported here: the runtime imports this module, not the other way round.
    from emulator.runtime.strict import legacy_idiom

    legacy_idiom(production_type, attr)


class AttributeDict(dict[str, Any]):
    """A dict whose keys are also attributes: ``row.title`` is ``row["title"]``.

    What the SDK's ``JsDict`` (``JsObject`` here) and Pyodide's proxies of plain JS objects
    (``emulator.runtime.jsproxy.JsObjectProxy``) have in common; they differ in the rest.
    """

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


class JsObject(AttributeDict):
    """A JS object as the SDK hands it over (its ``JsDict``): a dict with attribute access."""

    def to_py(self, *args: Any, **kwargs: Any) -> JsObject:
        """Pre-SDK idiom (``JsProxy.to_py()``): the value is Python already, so itself."""
        _legacy(self, "JsDict", "to_py")
        return self


class ConvertedList(list[Any]):
    """A JS array as the SDK hands it over: a Python list (``.to_py()`` for older code)."""

    __slots__ = ()

    def to_py(self, *args: Any, **kwargs: Any) -> ConvertedList:
        _legacy(self, "list", "to_py")
        return self


class ConvertedBuffer(bytes):
    """A JS buffer as the SDK hands it over (a ``memoryview`` in production).

    ``bytes`` rather than ``memoryview`` (which cannot be subclassed): ``bytes(b)``,
    ``b.decode()``, slicing, ``len`` and ``memoryview(b)`` work alike. The ``memoryview``
    members apps use are here too; Pyodide's ``to_bytes()`` / ``to_memoryview()`` /
    ``to_py()`` are the pre-SDK idioms.
    """

    __slots__ = ()

    # -- memoryview's surface
    def tobytes(self, order: str | None = None) -> bytes:
        return bytes(self)

    def tolist(self) -> list[int]:
        return list(self)

    @property
    def nbytes(self) -> int:
        return len(self)

    readonly = True
    format = "B"
    itemsize = 1
    ndim = 1

    @property
    def shape(self) -> tuple[int]:
        return (len(self),)

    @property
    def obj(self) -> bytes:
        return self

    def cast(self, format: str, shape: Any = None) -> memoryview[Any]:
        view = memoryview(self)
        # Any format goes through, as memoryview.cast takes it at run time; typeshed's overloads
        # only accept literal format strings.
        return view.cast(format) if shape is None else view.cast(format, shape)  # type: ignore[call-overload,no-any-return]  # see the comment above

    def toreadonly(self) -> memoryview:
        return memoryview(self)

    def release(self) -> None:
        return None

    # -- Pyodide JsBuffer idioms from before the SDK converted results
    def to_bytes(self) -> bytes:
        _legacy(self, "memoryview", "to_bytes")
        return bytes(self)

    def to_memoryview(self) -> memoryview:
        _legacy(self, "memoryview", "to_memoryview")
        return memoryview(self)

    def to_py(self, *args: Any, **kwargs: Any) -> memoryview:
        _legacy(self, "memoryview", "to_py")
        return memoryview(self)

    def to_string(self, encoding: str | None = None) -> str:
        _legacy(self, "memoryview", "to_string")
        return self.decode(encoding or "utf-8")


def to_js_object(value: Any) -> Any:
    """Recursively wrap dicts as ``JsObject`` and lists as ``ConvertedList``."""
    if isinstance(value, JsObject):
        return value
    if isinstance(value, dict):
        return JsObject({k: to_js_object(v) for k, v in value.items()})
    if isinstance(value, list):
        return ConvertedList(to_js_object(v) for v in value)
    return value
