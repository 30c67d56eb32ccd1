"""Queue message content types: how a Python body becomes stored bytes and back.

Cloudflare's producer accepts four content types (workerd ``queue.c++``):

- ``json`` (the default since compat date 2024-03-18): ``JSON.stringify`` of the body; the
  consumer gets the parsed value. Size = UTF-8 length of the JSON text. Like ``JSON.stringify``,
  ``NaN`` and ``±Infinity`` are written as ``null`` (Python's ``json`` would write ``NaN``,
  which is not JSON; docs/queues.md "Limits and edge cases").
- ``text``: a string, delivered as is. Size = UTF-8 length.
- ``bytes``: an ``ArrayBufferView`` (here ``bytes``/``bytearray``/``memoryview``), delivered as
  ``bytes`` (Cloudflare delivers an ``ArrayBuffer``, which Python Workers see as bytes).
- ``v8``: V8's structured clone. Python has no V8 serializer, so ``v8`` here means the
  Python analogue of structured clone: a *restricted pickle* that carries builtin containers
  and scalars (dict, list, tuple, set, frozenset, str, int, float, complex, bool, None, bytes,
  bytearray), ``datetime``/``date``/``time``/``timedelta``/fixed-offset ``timezone`` and
  ``Decimal``, preserving shared references and cycles. Anything else (functions, class
  instances, open files, ...) is refused at ``send()`` time, like a ``DataCloneError``, and the
  reading side only ever resolves the allow-listed classes, so a stored message can never run
  code when it is delivered.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import io
import json
import math
import json.encoder as _json_encoder
import json.scanner as _json_scanner
import pickle
from typing import Any, Protocol
from collections.abc import Iterable

from emulator.config.jsvalues import typeof
from emulator.jsobject import JsObject

CONTENT_TYPES = ("text", "bytes", "json", "v8")
DEFAULT_CONTENT_TYPE = "json"



def _not_serializable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# The C encoder/scanner called directly: ``json.dumps`` builds a new C encoder per call and
# ``json.loads`` adds a regex pass, together about 3x the cost on the hot path. No marker dict
# (cycle check): a cyclic body ends in RecursionError, reported like JSON.stringify's TypeError.
# allow_nan=False: a non-finite float raises ValueError, and `_json_encode` then writes it as
# JSON.stringify does.
_c_encode = _json_encoder.c_make_encoder(  # type: ignore[attr-defined]  # CPython's private C accelerator, not in typeshed
    None, _not_serializable, _json_encoder.encode_basestring, None, ":", ",", False, False, False
) if _json_encoder.c_make_encoder is not None else None  # type: ignore[attr-defined]  # CPython's private C accelerator, not in typeshed
# Objects decode to JsObject: the SDK hands a message body's JS objects to Python as dicts
# with attribute access (`message.body.id`); `object_pairs_hook` keeps that in the C scanner.
_DECODER = json.JSONDecoder(object_pairs_hook=JsObject)
_c_scan = _json_scanner.c_make_scanner(_DECODER) if _json_scanner.c_make_scanner else None  # type: ignore[attr-defined]  # CPython's private C accelerator, not in typeshed
_py_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_py_decode = _DECODER.decode
_NON_FINITE_KEYS = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _encode_strict(value: Any) -> str:
    if _c_encode is None:
        return _py_encode(value)
    return "".join(_c_encode(value, 0))


def _js_finite(value: Any) -> Any:
    """The value as ``JSON.stringify`` sees its numbers: NaN and ±Infinity become null.

    Object keys are strings in JavaScript, so a non-finite float key becomes its JS name.
    Only called for a body holding such a float (the encoder refused it).
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {(_NON_FINITE_KEYS[repr(k)] if isinstance(k, float) and not math.isfinite(k) else k): _js_finite(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_js_finite(v) for v in value]
    return value


def _json_encode(value: Any) -> str:
    try:
        try:
            return _encode_strict(value)
        except ValueError:
            # A NaN or ±Infinity somewhere (the only ValueError of an encoder without a cycle check).
            return _encode_strict(_js_finite(value))
    except RecursionError:
        raise TypeError("Converting circular structure to JSON") from None


def _json_decode(text: str) -> Any:
    if _c_scan is None:
        return _py_decode(text)
    try:
        value, end = _c_scan(text, 0)
    except StopIteration:
        return _py_decode(text)  # raises the usual JSONDecodeError
    if end != len(text):
        return _py_decode(text)  # trailing data (a hand-written row): strict parse
    return value


def normalize_content_type(content_type: Any) -> str:
    """Case-insensitive match like workerd; TypeError text is Cloudflare's."""
    if content_type is None:
        return DEFAULT_CONTENT_TYPE
    lowered = str(content_type).lower()
    if not isinstance(content_type, str) or lowered not in CONTENT_TYPES:
        raise TypeError(f"Unsupported queue message content type: {content_type}")
    return lowered


def serialize(body: Any, content_type: str) -> bytes:
    """The stored bytes of a body; raises TypeError with workerd's wording on a type mismatch."""
    if content_type == "json":
        try:
            return _json_encode(body).encode()
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"Message body of type {type(body).__name__} cannot be sent as JSON ({exc}); "
                'convert it first or use contentType "v8"'
            ) from None
    if content_type == "text":
        if not isinstance(body, str):
            raise TypeError(
                f'Content Type "text" requires a value of type string, but received: {typeof(body)}'
            )
        return body.encode("utf-8")
    if content_type == "bytes":
        if not isinstance(body, (bytes, bytearray, memoryview)):
            raise TypeError(
                'Content Type "bytes" requires a value of type ArrayBufferView, '
                f"but received: {typeof(body)}"
            )
        return bytes(body)
    if content_type == "v8":
        return _clone_dumps(body)
    raise TypeError(f"Unsupported queue message content type: {content_type}")


def deserialize(data: bytes, content_type: str) -> Any:
    """The body the consumer sees."""
    if content_type == "json":
        return _json_decode(data.decode("utf-8"))
    if content_type == "text":
        return data.decode("utf-8")
    if content_type == "bytes":
        return bytes(data)
    if content_type == "v8":
        return _CloneUnpickler(io.BytesIO(data)).load()
    raise ValueError(f"unknown stored content type {content_type!r}")


def preview(data: bytes, content_type: str) -> Any:
    """A JSON-friendly view of a stored body, for the inspection API and the CLI."""
    import base64

    if content_type == "bytes":
        return {"base64": base64.b64encode(data).decode("ascii")}
    try:
        value = deserialize(data, content_type)
    except Exception as exc:  # noqa: BLE001 - a corrupt row must not break listing
        return {"error": f"{type(exc).__name__}: {exc}"}
    if content_type == "v8":
        try:
            json.dumps(value)
            return value
        except (TypeError, ValueError):
            return {"repr": repr(value)}
    return value


class StoredBody(Protocol):
    """What ``decode_bodies`` reads: a stored message's bytes and content type."""

    body: bytes
    content_type: str


def encode_bodies(requests: Iterable[tuple[Any, Any, Any]]) -> list[tuple[str, bytes, Any]]:
    """``(contentType, stored bytes, delay)`` for each ``(body, contentType, delay)`` request.

    The same result as ``serialize`` item by item; bodies without a content type (JSON, the
    common case) go through the C encoder inline. Any failure redoes the work item by item,
    so the error raised is exactly ``serialize``'s.
    """
    items = list(requests)
    out: list[tuple[str, bytes, Any]] = []
    encode = _c_encode
    if encode is not None:
        append = out.append
        try:
            for body, content_type, delay in items:
                if content_type is None:
                    append(("json", "".join(encode(body, 0)).encode(), delay))
                else:
                    ct = normalize_content_type(content_type)
                    append((ct, serialize(body, ct), delay))
            return out
        except (TypeError, ValueError, RecursionError):
            out.clear()
    for body, content_type, delay in items:
        ct = normalize_content_type(content_type)
        out.append((ct, serialize(body, ct), delay))
    return out


def decode_bodies(records: Iterable[StoredBody]) -> list[Any]:
    """The bodies a consumer sees, in order (``deserialize`` of each, JSON inline)."""
    scan = _c_scan
    out: list[Any] = []
    append = out.append
    for r in records:
        if r.content_type != "json" or scan is None:
            append(deserialize(r.body, r.content_type))
            continue
        text = r.body.decode()
        try:
            value, end = scan(text, 0)
        except StopIteration:
            end = -1
        append(value if end == len(text) else _py_decode(text))  # strict parse: raises
    return out


# --- v8: a structured-clone-like pickle subset ------------------------------------------

# Types pickled by their own reducers once we have checked them. Exact builtins (dict, list,
# tuple, set, frozenset, str, int, float, bytes, bool, None) never reach `reducer_override`.
_CLONEABLE: tuple[type, ...] = (
    complex, bytearray, _dt.datetime, _dt.date, _dt.time, _dt.timedelta, decimal.Decimal,
)

# (module, name) pairs the reading side may resolve; nothing else can be instantiated.
_ALLOWED_GLOBALS = frozenset({
    ("builtins", "complex"), ("builtins", "bytearray"), ("builtins", "set"),
    ("builtins", "frozenset"), ("builtins", "dict"), ("builtins", "list"),
    ("builtins", "tuple"), ("builtins", "int"), ("builtins", "float"), ("builtins", "str"),
    ("builtins", "bytes"), ("builtins", "bool"),
    ("datetime", "datetime"), ("datetime", "date"), ("datetime", "time"),
    ("datetime", "timedelta"), ("datetime", "timezone"), ("decimal", "Decimal"),
})


class _ClonePickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, type):
            # Classes are pickled by reference: only the allow-listed ones may appear.
            if (obj.__module__, obj.__qualname__) in _ALLOWED_GLOBALS:
                return NotImplemented
            raise TypeError(f"class {obj.__qualname__} could not be cloned.")
        if isinstance(obj, _CLONEABLE):
            tz = getattr(obj, "tzinfo", None)
            if tz is not None and type(tz) is not _dt.timezone:
                raise TypeError(
                    f"{obj!r} could not be cloned: only fixed-offset datetime.timezone "
                    "tzinfo is supported by the v8 content type"
                )
            return NotImplemented
        if isinstance(obj, _dt.timezone):
            return NotImplemented
        # Structured clone drops prototypes: dict/list subclasses (e.g. JsObject) arrive as
        # plain dicts/lists, like a JS class instance arrives as a plain object.
        if isinstance(obj, dict):
            return (dict, (), None, None, iter(obj.items()))
        if isinstance(obj, list):
            return (list, (), None, iter(obj), None)
        if isinstance(obj, (bool, int, float, str, bytes, tuple, set, frozenset)) and type(obj) not in (
            bool, int, float, str, bytes, tuple, set, frozenset,
        ):
            # Subclasses of scalars (IntEnum, str enums, namedtuples) lose their class too.
            base: type[Any] = next(t for t in (bool, int, float, str, bytes, tuple, frozenset, set)
                                   if isinstance(obj, t))
            return (base, (base(obj),))
        raise TypeError(f"{type(obj).__name__} object {obj!r:.60} could not be cloned.")


class _CloneUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"v8 message refers to {module}.{name}, which is not allowed")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed in v8 messages")


def _clone_dumps(body: Any) -> bytes:
    buf = io.BytesIO()
    try:
        _ClonePickler(buf, protocol=5).dump(body)
    except RecursionError:
        raise TypeError("value is nested too deeply to be cloned") from None
    return buf.getvalue()
