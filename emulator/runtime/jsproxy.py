"""Raw JavaScript values as Pyodide shows them to Python, for the ``js`` / ``pyodide`` shims.

On Cloudflare, Python code that reaches past the ``workers`` SDK (``import js``,
``pyodide.ffi.to_js``, ``import_from_javascript("cloudflare:workers").env``) holds
``JsProxy`` objects: attribute access to JS properties, ``.to_py()`` to convert,
``.to_bytes()`` on buffers, ``.new(...)`` on constructors (docs/python-workers.md,
"Interop"). There is no JS engine here, so these classes *are* the values:

- ``JsObjectProxy`` (a plain JS object: a ``dict`` whose keys are attributes),
  ``JsArray`` (a ``list``), ``JsMap``, ``JsSet``, ``JsArrayBuffer`` / ``JsUint8Array``
  (``bytes``), ``JsDate``; all derive from ``JsProxy`` and accept ``to_py()`` — unlike the
  values the SDK already converted (``emulator.jsobject``), which are not ``JsProxy``.
- ``to_js`` / ``to_py`` convert between these and Python values; ``jsnull`` is JS
  ``null``; ``JsException`` is a JS error raised into Python.
- ``RawBindingView`` is a binding seen without the SDK's wrapper (what
  ``import_from_javascript("cloudflare:workers").env.DB`` is): results come back as raw
  proxies again, so ``(await stmt.all()).results.to_py()`` is valid there, as in production.

Being ``dict`` / ``list`` / ``bytes`` subclasses, these values are accepted wherever the
emulator's bindings and ``Response`` accept Python values.
"""

from __future__ import annotations

import datetime as _dt
import inspect
from collections.abc import Mapping
from typing import Any
from collections.abc import Callable, Iterable

from emulator.errors import JsError
from emulator.jsobject import AttributeDict, ConvertedBuffer, ConvertedList, JsObject


class _Constructor:
    """What ``value.constructor`` answers: a JS class with its ``name``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"[Function: {self.name}]"


class JsProxy:
    """Base class of raw JS values (``isinstance(x, pyodide.ffi.JsProxy)``)."""

    __slots__ = ()
    js_type_name = "Object"

    @property
    def constructor(self) -> _Constructor:
        return _Constructor(self.js_type_name)

    @property
    def typeof(self) -> str:
        return "object"

    def to_py(self, *, depth: int = -1, default_converter: Callable[..., Any] | None = None) -> Any:
        return to_py(self, depth=depth, default_converter=default_converter)


class JsNull:
    """JS ``null`` (Pyodide's ``jsnull``): falsy, distinct from ``None`` (``undefined``)."""

    _instance: JsNull | None = None

    def __new__(cls) -> JsNull:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "jsnull"

    @property
    def typeof(self) -> str:
        return "object"


jsnull = JsNull()


class JsObjectProxy(JsProxy, AttributeDict):
    """A plain JS object: properties as attributes and as items."""

    def object_keys(self) -> JsArray:
        return JsArray(self.keys())

    def object_values(self) -> JsArray:
        return JsArray(self.values())

    def object_entries(self) -> JsArray:
        return JsArray(JsArray([k, v]) for k, v in self.items())

    def as_object_map(self) -> JsObjectProxy:
        return self


class JsArray(JsProxy, list[Any]):
    """A JS array."""

    js_type_name = "Array"

    @property
    def length(self) -> int:
        return len(self)

    def push(self, *items: Any) -> int:
        self.extend(items)
        return len(self)

    def includes(self, item: Any) -> bool:
        return item in self

    def join(self, sep: str = ",") -> str:
        return sep.join("" if v is None else str(v) for v in self)

    def object_values(self) -> JsArray:
        return self


class JsMap(JsProxy, dict[Any, Any]):
    """A JS ``Map`` (what ``to_js(dict)`` gives without a ``dict_converter``)."""

    js_type_name = "Map"

    def has(self, key: Any) -> bool:
        return key in self

    def set(self, key: Any, value: Any) -> JsMap:
        self[key] = value
        return self

    def delete(self, key: Any) -> bool:
        return self.pop(key, _MISSING) is not _MISSING

    @property
    def size(self) -> int:
        return len(self)


class JsSet(JsProxy, set[Any]):
    """A JS ``Set``."""

    js_type_name = "Set"

    def has(self, item: Any) -> bool:
        return item in self

    @property
    def size(self) -> int:
        return len(self)


_MISSING = object()


class JsBuffer(JsProxy, bytes):
    """A JS buffer (``ArrayBuffer`` or typed array): Pyodide's buffer methods are valid here."""

    js_type_name = "ArrayBuffer"

    def to_bytes(self) -> bytes:
        return bytes(self)

    def to_memoryview(self) -> memoryview:
        return memoryview(bytes(self))

    def to_string(self, encoding: str | None = None) -> str:
        return self.decode(encoding or "utf-8")

    def to_py(self, *, depth: int = -1, default_converter: Callable[..., Any] | None = None) -> Any:
        return memoryview(bytes(self))

    @property
    def byteLength(self) -> int:  # noqa: N802 - JS spelling
        return len(self)

    @property
    def length(self) -> int:
        return len(self)


class JsArrayBuffer(JsBuffer):
    js_type_name = "ArrayBuffer"

    def slice(self, start: int = 0, end: int | None = None) -> JsArrayBuffer:
        return JsArrayBuffer(bytes(self)[start:end])


class JsUint8Array(JsBuffer):
    js_type_name = "Uint8Array"

    @property
    def buffer(self) -> JsArrayBuffer:
        return JsArrayBuffer(self)

    def subarray(self, start: int = 0, end: int | None = None) -> JsUint8Array:
        return JsUint8Array(bytes(self)[start:end])

    slice = subarray


class JsDate(JsProxy):
    """A JS ``Date`` (milliseconds since the epoch)."""

    __slots__ = ("_ms",)
    js_type_name = "Date"

    def __init__(self, ms: float) -> None:
        self._ms = float(ms)

    def getTime(self) -> float:  # noqa: N802 - JS spelling
        return self._ms

    valueOf = getTime  # noqa: N815 - JS spelling

    def toISOString(self) -> str:  # noqa: N802 - JS spelling
        moment = _dt.datetime.fromtimestamp(self._ms / 1000, tz=_dt.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(self._ms) % 1000:03d}Z"

    toJSON = toISOString  # noqa: N815 - JS spelling

    def to_py(self, *, depth: int = -1, default_converter: Callable[..., Any] | None = None) -> Any:
        # Pyodide leaves a Date as a proxy; the SDK's converter gives a naive local datetime.
        return _dt.datetime.fromtimestamp(self._ms / 1000)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsDate) and other._ms == self._ms

    def __hash__(self) -> int:
        return hash(self._ms)

    def __repr__(self) -> str:
        return f"Date({self.toISOString()})"


class JsException(JsProxy, JsError):
    """A JS error raised into Python: ``name`` (``"TypeError"``, ...) and ``message``.

    Binding errors that production raises as JS errors (KV's, ...) derive from it, so
    ``except pyodide.ffi.JsException`` in app code catches them as it does in production.
    """

    def __init__(self, name: str = "Error", message: str = "") -> None:
        JsError.__init__(self, message, name)

    def __str__(self) -> str:
        return f"{self.name}: {self.message}" if self.message else self.name

    js_type_name = "Error"


# --- conversion --------------------------------------------------------------------------------

def to_py(value: Any, *, depth: int = -1, default_converter: Callable[..., Any] | None = None) -> Any:
    """Pyodide's deep ``to_py``: arrays → list, plain objects and Maps → dict, Sets → set."""
    if depth == 0:
        return value
    nested = depth - 1 if depth > 0 else -1
    if isinstance(value, JsBuffer):
        return memoryview(bytes(value))
    if isinstance(value, (JsObjectProxy, JsMap)) or (isinstance(value, dict) and not isinstance(value, JsProxy)):
        return {k: to_py(v, depth=nested, default_converter=default_converter) for k, v in value.items()}
    if isinstance(value, list):
        return [to_py(v, depth=nested, default_converter=default_converter) for v in value]
    if isinstance(value, JsSet):
        return set(value)
    if isinstance(value, JsProxy) and default_converter is not None:
        return default_converter(value, lambda v: to_py(v, depth=nested, default_converter=default_converter), {})
    return value


def to_js(obj: Any, *, depth: int = -1, pyproxies: Any = None, create_pyproxies: bool = True,
          dict_converter: Callable[[Iterable[Any]], Any] | None = None,
          default_converter: Callable[..., Any] | None = None, eager_converter: Any = None) -> Any:
    """Pyodide's ``to_js``: dicts → ``Map`` (or ``dict_converter(entries)``), lists → arrays,
    buffers → ``Uint8Array``; JS values (and the emulator's JS-like objects) unchanged."""
    if obj is None or isinstance(obj, (str, int, float, bool, JsProxy, JsNull)):
        return obj
    if depth == 0:
        return obj
    nested = depth - 1 if depth > 0 else -1

    def convert(value: Any) -> Any:
        return to_js(value, depth=nested, dict_converter=dict_converter, default_converter=default_converter)

    if isinstance(obj, (bytes, bytearray, memoryview)):
        return JsUint8Array(bytes(obj))
    if isinstance(obj, Mapping):
        entries = [JsArray([k, convert(v)]) for k, v in obj.items()]
        if dict_converter is None:
            return JsMap((k, v) for k, v in entries)
        return dict_converter(entries)
    if isinstance(obj, (list, tuple)):
        return JsArray(convert(v) for v in obj)
    if isinstance(obj, (set, frozenset)):
        return JsSet(obj)
    if isinstance(obj, _dt.datetime):
        return JsDate(obj.timestamp() * 1000)
    if default_converter is not None:
        return default_converter(obj, convert, {})
    return obj  # a Python object handed to JS (Pyodide makes a PyProxy of it)


def object_from_entries(entries: Any) -> JsObjectProxy:
    """``Object.fromEntries``: pairs (or a mapping) to a plain JS object."""
    if isinstance(entries, Mapping):
        entries = entries.items()
    out = JsObjectProxy()
    for pair in entries:
        key, value = pair
        out[str(key)] = value
    return out


def to_raw(value: Any) -> Any:
    """A converted value (what the SDK hands Python) back as the raw JS value it came from."""
    if value is None or isinstance(value, (str, int, float, bool, JsProxy)):
        return value
    if isinstance(value, ConvertedBuffer):
        return JsArrayBuffer(value)
    if isinstance(value, (JsObject, dict)):
        return JsObjectProxy((k, to_raw(v)) for k, v in value.items())
    if isinstance(value, (ConvertedList, list, tuple)):
        return JsArray(to_raw(v) for v in value)
    if isinstance(value, _dt.datetime):
        return JsDate(value.timestamp() * 1000)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return JsArrayBuffer(bytes(value))
    if _has_methods(value):
        return RawBindingView(value)
    return value


def _has_methods(value: Any) -> bool:
    module = type(value).__module__
    # Binding objects (D1 statements, R2 objects, workflow instances): the emulator's own.
    return module.startswith(("emulator.bindings", "emulator.runtime.host"))


class RawBindingView:
    """A binding (or an object a binding returned) as raw JS: results become proxies again."""

    __slots__ = ("_target",)

    def __init__(self, target: Any) -> None:
        object.__setattr__(self, "_target", target)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return to_raw(value)

        def call(*args: Any, **kwargs: Any) -> Any:
            result = value(*args, **kwargs)
            if inspect.isawaitable(result):
                return _raw_awaitable(result)
            return to_raw(result)

        call.__name__ = name
        return call

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target, name, value)

    @property
    def constructor(self) -> _Constructor:
        return _Constructor(type(self._target).__name__)

    def __repr__(self) -> str:
        return f"<JsProxy {self._target!r}>"


async def _raw_awaitable(awaitable: Any) -> Any:
    return to_raw(await awaitable)


class RawEnv:
    """``env`` without the SDK's wrapper (``cloudflare:workers``'s ``env``)."""

    __slots__ = ("_env",)

    def __init__(self, env: Any) -> None:
        object.__setattr__(self, "_env", env)

    def __getattr__(self, name: str) -> Any:
        try:
            value = self._env[name] if isinstance(self._env, Mapping) else getattr(self._env, name)
        except KeyError:
            return None  # JS: a missing property is undefined
        if isinstance(value, (str, int, float, bool)) or value is None:
            return value
        if isinstance(value, (dict, list)):
            return to_raw(value)  # JSON vars are raw objects
        return RawBindingView(value)

    def __repr__(self) -> str:
        return "<JsProxy env>"


# --- Python objects handed to JS --------------------------------------------------------------

class PyProxy:
    """``create_proxy(obj)``: a JS-callable handle on a Python object, with ``destroy()``."""

    __slots__ = ("_obj", "_destroyed")

    def __init__(self, obj: Any) -> None:
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_destroyed", False)

    def _target(self) -> Any:
        if self._destroyed:
            raise RuntimeError("Object has already been destroyed")
        return self._obj

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._target()(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target(), name)

    def destroy(self) -> None:
        object.__setattr__(self, "_destroyed", True)

    def __repr__(self) -> str:
        return f"<PyProxy {self._obj!r}>"


def run_coroutine_blocking(awaitable: Any) -> Any:
    """Run ``awaitable`` to completion from synchronous code (``pyodide.ffi.run_sync``).

    Production suspends the WebAssembly stack (JSPI). Here: from a thread the emulator runs
    synchronous app code in (``workers.wsgi``), the coroutine runs on the app's event loop
    while the thread waits; on a thread with no running loop, on a fresh loop; on the event
    loop's own thread (sync code called inline from an async handler), on a helper thread's
    loop, which works for self-contained work (D1, R2, outbound fetch).
    """
    from emulator.runtime.sync_bridge import run_blocking

    return run_blocking(awaitable)

