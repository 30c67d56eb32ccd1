"""Values crossing a Durable Object's boundary: RPC arguments and results, stored values, errors.

Production passes RPC arguments and results, and stores values, through V8's structured
clone, after the Python SDK converted them (``python_to_rpc`` on the sending side,
``python_from_rpc`` on the receiving side; docs/durable_objects.md, "Values"). What a
Python Worker observes, and what this module reproduces:

- ``str``, ``bool``, ``None`` and ``int`` arrive unchanged (large ints travel as BigInt);
  a ``float`` with an integral value arrives as an ``int`` (Pyodide turns every safe-integer
  JS number into a Python ``int``);
- ``list`` → ``list``, ``dict`` → ``JsObject`` (a dict with attribute access; keys become
  strings), ``set`` → ``set``, ``bytes``/``memoryview`` → ``memoryview``;
- ``datetime`` → naive UTC ``datetime`` with millisecond precision (a naive one is read as
  UTC, which is the Workers runtime's local time zone);
- an exception *value* → ``Exception("Error: <message>")`` (JS ``Error.toString()``);
- ``tuple``/``bytearray`` anywhere in the value → ``TypeError("<class 'tuple'> cannot be
  sent over RPC.")``, an awaitable → ``TypeError("Awaitable <type> cannot be sent over
  RPC.")`` (the SDK's own checks); functions → ``TypeError`` (a Python target cannot
  receive them); anything else → ``DataCloneError: Could not serialize object of type
  "<type>"``;
- over RPC only: ``Request``, ``Response``, ``Blob``, ``FormData`` and binding objects
  (stubs, namespaces, other bindings) pass as they are.

Every container is copied: the receiver never shares a mutable object with the sender.

Stored values use the same rules and are encoded as one tag byte plus either the UTF-8 text
(a ``str``, the common case) or ``marshal`` data of a normalized tree (tuples, which no
stored value can contain, tag dates and errors). ``marshal`` is the standard library's
own format for trusted data; the files it reads are the state directory's.
"""

from __future__ import annotations

import datetime as _dt
import inspect
import marshal
import math
from typing import Any

from emulator.bindings.durable_objects.errors import (
    DataCloneError,
    DurableObjectError,
    not_serializable,
)
from emulator.jsobject import JsObject

SAFE_INTEGER = 2**53 - 1
# Deeper than this is refused: Python's own recursion (and the SDK's) would fail first.
MAX_DEPTH = 200
_EPOCH = _dt.datetime(1970, 1, 1)
_EPOCH_UTC = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_MS = _dt.timedelta(milliseconds=1)
_TAG_TEXT = 0x73  # b"s": UTF-8 text
_TAG_TREE = 0x6D  # b"m": marshal data
_DATE = "d"
_ERROR = "e"


def js_string(value: Any) -> str:
    """JavaScript's ``String(value)`` for the primitives Python hands over."""
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(float(value))
    if value is None:
        return "null"
    raise TypeError(f"expected a string, got {type(value).__name__}")


def number(value: float) -> int | float:
    """A JS number as Pyodide hands it to Python: safe integers become ``int``."""
    if value.is_integer() and -SAFE_INTEGER <= value <= SAFE_INTEGER:
        return int(value)
    return value


def date_ms(value: _dt.datetime) -> int:
    """Milliseconds since the epoch (a naive datetime is UTC, the runtime's time zone)."""
    if value.tzinfo is None:
        return (value - _EPOCH) // _MS
    return (value - _EPOCH_UTC) // _MS


def ms_date(ms: int | float) -> _dt.datetime:
    return _EPOCH + _dt.timedelta(milliseconds=int(ms))


def _refused(value: Any) -> TypeError | None:
    """The SDK's own refusals (``_raise_on_disabled_type``), raised before any conversion."""
    if isinstance(value, (tuple, bytearray)):
        return TypeError(f"{type(value)} cannot be sent over RPC.")
    if inspect.isawaitable(value):
        return TypeError(f"Awaitable {type(value)} cannot be sent over RPC.")
    return None


def _key(key: Any) -> str:
    if isinstance(key, str):
        return str.__str__(key)
    if isinstance(key, (bool, int, float)) or key is None:
        return js_string(key)
    raise TypeError(f"dictionary keys sent to or stored by a Durable Object must be strings or numbers, "
                    f"got {type(key).__name__}")


def _plain(value: str | int | float) -> str | int | float:
    """An instance of a ``str``/``bool``/``int``/``float`` subclass as the plain value the other
    side receives, for RPC and storage alike (both check the exact types first, inline)."""
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    return number(float(value))


def _passes_over_rpc(value: Any) -> bool:
    """Request/Response/Blob/FormData and binding objects: sent over RPC as they are."""
    from emulator.runtime.http import Blob, FormData, Request, Response

    if isinstance(value, (Request, Response, Blob, FormData)):
        return True
    # Binding objects (what the emulator puts on `env`: stubs, namespaces, buckets...).
    module = type(value).__module__
    if module.startswith("emulator.bindings.durable_objects."):
        # Stubs and namespaces travel; WebSockets, ``ctx`` and storage objects do not.
        return module == "emulator.bindings.durable_objects.binding"
    return module.startswith("emulator.bindings.") and not isinstance(value, BaseException)


# --- RPC ------------------------------------------------------------------------------------------
def to_rpc(value: Any) -> Any:
    """``value`` as the other side of an RPC call receives it (a deep copy, converted)."""
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return value
    if t is float:
        return number(value)
    return _rpc(value, 0)


def _rpc(value: Any, depth: int) -> Any:
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return value
    if t is float:
        return number(value)
    if depth > MAX_DEPTH:
        raise DataCloneError("The value is nested too deeply to be serialized (does it contain a reference cycle?).")
    if t is dict or t is JsObject:
        return JsObject({_key(k): _rpc(v, depth + 1) for k, v in value.items()})
    if t is list:
        return [_rpc(v, depth + 1) for v in value]
    refused = _refused(value)
    if refused is not None:
        raise refused
    if isinstance(value, dict):
        return JsObject({_key(k): _rpc(v, depth + 1) for k, v in value.items()})
    if isinstance(value, list):
        return [_rpc(v, depth + 1) for v in value]
    if isinstance(value, (str, int, float)):
        return _plain(value)
    if isinstance(value, (set, frozenset)):
        return {_set_item(_rpc(v, depth + 1)) for v in value}
    if isinstance(value, (bytes, memoryview)):
        return memoryview(bytes(value))
    if isinstance(value, _dt.datetime):
        return ms_date(date_ms(value))
    if isinstance(value, BaseException):
        return Exception(f"Error: {value}")
    if _passes_over_rpc(value):
        return value
    if callable(value) and not isinstance(value, type):
        raise TypeError(f"{type(value)} cannot be sent over RPC: a Python Durable Object cannot receive functions.")
    raise not_serializable(type(value).__name__)


def _set_item(value: Any) -> Any:
    # A memoryview is not hashable: a set keeps the bytes.
    return bytes(value) if isinstance(value, memoryview) else value


def rpc_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Both halves of a call's arguments, converted (primitives cost one type check each)."""
    if args:
        args = tuple([a if type(a) is str or type(a) is int or a is None else to_rpc(a) for a in args])
    if kwargs:
        kwargs = {k: to_rpc(v) for k, v in kwargs.items()}
    return args, kwargs


# --- errors ---------------------------------------------------------------------------------------
def rpc_error(exc: BaseException, traceback_text: str | None = None) -> BaseException:
    """The error a caller sees when the object's method raised ``exc``.

    Built-in exception types keep their type and message; the platform's errors keep their
    JS name and message; other classes arrive as ``JsException`` ("Error") whose message
    names the class, as a Python Worker sees a remote Python exception. ``remote`` is set,
    as workerd sets it on errors thrown by a Durable Object; the object's traceback is
    attached as a note.
    """
    from emulator.errors import JsError

    out: BaseException
    if isinstance(exc, JsError):
        out = DurableObjectError(exc.message, exc.name, reset=bool(getattr(exc, "durable_object_reset", False)))
        if isinstance(exc, DataCloneError):
            out = DataCloneError(exc.message)
    elif type(exc).__module__ == "builtins" and isinstance(exc, Exception):
        try:
            out = type(exc)(*[a if isinstance(a, (str, int, float, bool)) or a is None else str(a) for a in exc.args])
        except Exception:  # noqa: BLE001 - exotic constructors: keep the message
            out = Exception(str(exc))
    else:
        out = DurableObjectError(f"{type(exc).__name__}: {exc}", "Error")
    try:
        out.remote = True  # type: ignore[attr-defined]  # marks the copy as coming from the object
    except AttributeError:
        pass
    if traceback_text:
        out.add_note("Raised in the Durable Object:\n" + traceback_text.rstrip())
    return out


# --- storage --------------------------------------------------------------------------------------
def encode(value: Any) -> bytes:
    """A value as stored (``put``): validated like an RPC argument, then encoded."""
    if type(value) is str:
        return b"s" + value.encode("utf-8", "surrogatepass")
    return b"m" + marshal.dumps(_tree(value, 0), 4)


def _tree(value: Any, depth: int) -> Any:
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return value
    if t is float:
        return number(value)
    if depth > MAX_DEPTH:
        raise DataCloneError("The value is nested too deeply to be serialized (does it contain a reference cycle?).")
    if t is dict or t is JsObject:
        return {_key(k): _tree(v, depth + 1) for k, v in value.items()}
    if t is list:
        return [_tree(v, depth + 1) for v in value]
    refused = _refused(value)
    if refused is not None:
        raise refused
    if isinstance(value, dict):
        return {_key(k): _tree(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_tree(v, depth + 1) for v in value]
    if isinstance(value, (str, int, float)):
        return _plain(value)
    if isinstance(value, (set, frozenset)):
        return frozenset(_tree(v, depth + 1) for v in value)
    if isinstance(value, (bytes, memoryview)):
        return bytes(value)
    if isinstance(value, _dt.datetime):
        return (_DATE, date_ms(value))
    if isinstance(value, BaseException):
        return (_ERROR, str(value))
    if callable(value) and not isinstance(value, type):
        raise not_serializable("function")
    raise not_serializable(type(value).__name__)


def decode(data: bytes) -> Any:
    """A stored value as ``get`` returns it."""
    tag = data[0]
    if tag == _TAG_TEXT:
        return data[1:].decode("utf-8", "surrogatepass")
    if tag != _TAG_TREE:
        raise DurableObjectError(f"stored value has an unknown encoding (tag {tag:#x})")
    tree = marshal.loads(data[1:])  # noqa: S302 - our own storage format: marshal.dumps of plain values, read back from our SQLite file
    t = type(tree)
    if t is str or t is int or t is float or t is bool or tree is None:
        return tree
    return _untree(tree)


def _untree(tree: Any) -> Any:
    t = type(tree)
    if t is dict:
        return JsObject({k: _untree(v) for k, v in tree.items()})
    if t is list:
        return [_untree(v) for v in tree]
    if t is bytes:
        return memoryview(tree)
    if t is frozenset or t is set:
        return {_set_untree(v) for v in tree}
    if t is tuple:
        kind, payload = tree
        if kind == _DATE:
            return ms_date(payload)
        return Exception(f"Error: {payload}")
    return tree


def _set_untree(value: Any) -> Any:
    return value if type(value) is bytes else _untree(value)


def to_json(value: Any) -> Any:
    """A decoded value for the inspection API (JSON): bytes as base64, dates as ISO text."""
    import base64

    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, set, frozenset)):
        return [to_json(v) for v in value]
    if isinstance(value, (bytes, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, _dt.datetime):
        return {"$date": value.isoformat(timespec="milliseconds") + "Z"}
    if isinstance(value, BaseException):
        return {"$error": str(value)}
    if isinstance(value, float) and not math.isfinite(value):
        return {"$number": js_string(value)}
    return value
