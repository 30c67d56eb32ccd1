"""Pyodide's ``js`` module for apps on CPython: the JS globals Python Workers code reaches for.

Constructors follow Pyodide's convention, ``X.new(...)``, with keyword arguments folded
into one trailing options object (``Response.new(body, status=404, headers=h)`` is
``new Response(body, {status: 404, headers: h})``). Values are the emulator's own JS-like
objects (``emulator.runtime.jsproxy``, ``emulator.runtime.http``), so a JS ``Response``
is also a ``workers.Response`` and can be returned from a handler. Globals cf-emulator
cannot provide (``HTMLRewriter``, ``crypto.subtle``, outbound ``WebSocket``) fail with a
message that says so. See docs/python-workers.md, "Interop".
"""

from __future__ import annotations

import asyncio
import builtins
import json as _json
import math
import random as _random
import secrets
import sys
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import (
    parse_qsl,
    quote,
    unquote,
    urlencode,
    urljoin,
    urlsplit,
    urlunsplit,
)

from emulator.runtime.http import Blob as _Blob
from emulator.runtime.http import FetchResponse
from emulator.runtime.http import File as _File
from emulator.runtime.http import FormData as _FormData
from emulator.runtime.http import Headers as _Headers
from emulator.runtime.http import ReadableStream as _ReadableStream
from emulator.runtime.http import Request as _Request
from emulator.runtime.http import Response as _Response
from emulator.runtime.http import fetch as _fetch
from emulator.runtime.jsproxy import (
    JsArray,
    JsArrayBuffer,
    JsDate,
    JsException,
    JsMap,
    JsNull,
    JsObjectProxy,
    JsProxy,
    JsSet,
    JsUint8Array,
    object_from_entries,
)
from emulator.runtime.websocket import WebSocket as _WebSocket
from emulator.runtime.websocket import WebSocketPair as _WebSocketPair
from emulator.runtime.websocket import (
    WebSocketRequestResponsePair as _WebSocketRequestResponsePair,
)

undefined = None


def _options(args: tuple[Any, ...], kwargs: dict[str, Any], index: int) -> dict[str, Any]:
    """The options object of a JS call: ``args[index]`` (a mapping) merged with ``kwargs``."""
    merged: dict[str, Any] = {}
    if len(args) > index and args[index] is not None:
        given = args[index]
        if isinstance(given, Mapping):
            merged.update(given)
        else:
            merged.update({k: v for k, v in vars(given).items() if not k.startswith("_")}
                          if hasattr(given, "__dict__") else {})
    merged.update(kwargs)
    return merged


class _JsClass:
    """A JS constructor: ``.new(...)``; calling it without ``new`` is a JS TypeError.

    ``isinstance(value, js.Response)`` works like JS ``instanceof`` (``instance_type``).
    """

    name = "Object"
    instance_type: Any = ()

    def __instancecheck__(self, value: Any) -> bool:
        return isinstance(value, self.instance_type) if self.instance_type else False

    def new(self, *args: Any, **kwargs: Any) -> Any:
        # Classes whose instances apps build override this; the rest say so by name.
        raise NotImplementedError(f"new {self.name}(...) is not emulated by cf-emulator")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise JsException("TypeError", f"Class constructor {self.name} cannot be invoked without 'new'")

    def __repr__(self) -> str:
        return f"[class {self.name}]"


# --- Fetch API ------------------------------------------------------------------------------------

class _ResponseClass(_JsClass):
    name = "Response"
    instance_type = FetchResponse

    def new(self, *args: Any, **kwargs: Any) -> _Response:
        body = args[0] if args else None
        if len(args) > 1 and isinstance(args[1], FetchResponse):
            # `new Response(body, otherResponse)`: status, statusText and headers copied.
            other = args[1]
            init: dict[str, Any] = {"status": other.status, "statusText": other.status_text,
                                    "headers": other.headers.copy(), **kwargs}
        else:
            init = _options(args, kwargs, 1)
        if isinstance(body, JsNull):
            body = None
        response = _Response(body, status=init.get("status"), status_text=init.get("statusText") or "",
                             headers=_headers_init(init.get("headers")), web_socket=init.get("webSocket"))
        if init.get("encodeBody"):
            response.encode_body = init["encodeBody"]
        return response

    def json(self, data: Any, *args: Any, **kwargs: Any) -> _Response:
        init = _options(args, kwargs, 0)
        headers = _Headers(_headers_init(init.get("headers")))
        if "content-type" not in headers:
            headers.set("content-type", "application/json")
        return _Response(JSON.stringify(data), status=init.get("status"), status_text=init.get("statusText") or "",
                         headers=headers)

    def redirect(self, url: str, status: int = 302) -> _Response:
        try:
            return _Response.redirect(str(url), status)
        except ValueError as exc:
            raise JsException("RangeError", str(exc)) from None


class _RequestClass(_JsClass):
    name = "Request"
    instance_type = _Request

    def new(self, *args: Any, **kwargs: Any) -> _Request:
        if not args:
            raise JsException("TypeError", "Request constructor: 1 argument required, but only 0 present.")
        init = _options(args, kwargs, 1)
        options: dict[str, Any] = {k: init[k] for k in ("method", "body", "redirect", "cf") if k in init}
        if "headers" in init:
            options["headers"] = _headers_init(init["headers"])
        return _Request(args[0], **options)


def _headers_init(init: Any) -> Any:
    if init is None or isinstance(init, (_Headers, Mapping)):
        return init
    if isinstance(init, Iterable) and not isinstance(init, (str, bytes)):
        return [tuple(pair) for pair in init]
    raise JsException("TypeError", "Failed to construct 'Headers': The provided value is not of type "
                      "'(record<ByteString, ByteString> or sequence<sequence<ByteString>>)'.")


class _HeadersClass(_JsClass):
    name = "Headers"
    instance_type = _Headers

    def new(self, init: Any = None) -> _Headers:
        return _Headers(_headers_init(init))


class _FormDataClass(_JsClass):
    name = "FormData"
    instance_type = _FormData

    def new(self, *args: Any) -> _FormData:
        return _FormData()


class _BlobClass(_JsClass):
    name = "Blob"
    instance_type = _Blob

    def new(self, parts: Any = None, *args: Any, **kwargs: Any) -> _Blob:
        init = _options(args, kwargs, 0)
        return _Blob(list(parts or []), init.get("type"))


class _FileClass(_JsClass):
    name = "File"
    instance_type = _File

    def new(self, parts: Any, name: str, *args: Any, **kwargs: Any) -> _File:
        init = _options(args, kwargs, 0)
        return _File(list(parts or []), name, init.get("type"), last_modified=init.get("lastModified"))


class _ReadableStreamClass(_JsClass):
    name = "ReadableStream"
    instance_type = _ReadableStream

    def new(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            "new ReadableStream(...) is not emulated by cf-emulator: return an async generator of bytes "
            "as a Response body instead (Response(my_async_generator()))")


async def fetch(resource: Any, *args: Any, **kwargs: Any) -> _Response:
    """The global ``fetch(resource, init)``."""
    init = _options(args, kwargs, 0)
    if "headers" in init:
        init["headers"] = _headers_init(init["headers"])
    return await _fetch(resource, **{k: v for k, v in init.items()
                                     if k in ("method", "headers", "body", "redirect", "cf")})


# --- URL ------------------------------------------------------------------------------------------

_DEFAULT_PORTS = {"http:": "80", "https:": "443", "ws:": "80", "wss:": "443", "ftp:": "21"}
_SPECIAL = set(_DEFAULT_PORTS) | {"file:"}


class _URLSearchParams(JsProxy):
    """JS ``URLSearchParams``."""

    js_type_name = "URLSearchParams"

    def __init__(self, init: Any = None, _owner: _URL | None = None) -> None:
        self._pairs: list[tuple[str, str]] = []
        self._owner = _owner
        if init is None:
            return
        if isinstance(init, str):
            self._pairs = parse_qsl(init[1:] if init.startswith("?") else init, keep_blank_values=True)
        elif isinstance(init, _URLSearchParams):
            self._pairs = list(init._pairs)
        elif isinstance(init, Mapping):
            self._pairs = [(str(k), str(v)) for k, v in init.items()]
        else:
            self._pairs = [(str(k), str(v)) for k, v in init]

    def _changed(self) -> None:
        if self._owner is not None:
            self._owner._set_query(self.toString())

    def append(self, name: str, value: Any) -> None:
        self._pairs.append((str(name), str(value)))
        self._changed()

    def delete(self, name: str) -> None:
        self._pairs = [(k, v) for k, v in self._pairs if k != name]
        self._changed()

    def get(self, name: str) -> str | None:
        return next((v for k, v in self._pairs if k == name), None)

    def getAll(self, name: str) -> JsArray:  # noqa: N802 - JS spelling
        return JsArray(v for k, v in self._pairs if k == name)

    def has(self, name: str) -> bool:
        return any(k == name for k, _ in self._pairs)

    def set(self, name: str, value: Any) -> None:
        out: list[tuple[str, str]] = []
        done = False
        for k, v in self._pairs:
            if k == name:
                if not done:
                    out.append((k, str(value)))
                    done = True
            else:
                out.append((k, v))
        if not done:
            out.append((str(name), str(value)))
        self._pairs = out
        self._changed()

    def sort(self) -> None:
        self._pairs.sort(key=lambda p: p[0])
        self._changed()

    def keys(self) -> JsArray:
        return JsArray(k for k, _ in self._pairs)

    def values(self) -> JsArray:
        return JsArray(v for _, v in self._pairs)

    def entries(self) -> JsArray:
        return JsArray(JsArray(p) for p in self._pairs)

    def forEach(self, callback: Any) -> None:  # noqa: N802 - JS spelling
        for k, v in list(self._pairs):
            callback(v, k, self)

    @property
    def size(self) -> int:
        return len(self._pairs)

    def __iter__(self) -> Any:
        return iter(JsArray(p) for p in self._pairs)

    def toString(self) -> str:  # noqa: N802 - JS spelling
        return urlencode(self._pairs, quote_via=quote, safe="*-._")

    def __str__(self) -> str:
        return self.toString()

    def __cf_body__(self) -> tuple[bytes, str]:
        return self.toString().encode(), "application/x-www-form-urlencoded;charset=UTF-8"

    def __repr__(self) -> str:
        return f"URLSearchParams {{{', '.join(f'{k!r} => {v!r}' for k, v in self._pairs)}}}"


class _URL(JsProxy):
    """JS ``URL`` (WHATWG parsing for the common http(s) cases)."""

    js_type_name = "URL"

    def __init__(self, url: Any, base: Any = None) -> None:
        text = str(url)
        if base is not None:
            text = urljoin(str(base), text)
        parts = urlsplit(text.strip())
        scheme = parts.scheme.lower()
        if not scheme or (scheme + ":" in _SPECIAL and scheme != "file" and not parts.hostname):
            raise JsException("TypeError", f"Invalid URL string: {url}")
        self._protocol = scheme + ":"
        self._username = unquote(parts.username or "") and quote(parts.username or "", safe="%")
        self._password = parts.password or ""
        self._hostname = (parts.hostname or "").lower()
        port = str(parts.port) if parts.port is not None else ""
        self._port = "" if _DEFAULT_PORTS.get(self._protocol) == port else port
        path = parts.path or ("/" if self._protocol in _SPECIAL else "")
        self._pathname = quote(path, safe="/%:@!$&'()*+,;=-._~")
        self._search = ""
        self._set_query(parts.query)
        self._hash = "#" + quote(parts.fragment, safe="%/?:@!$&'()*+,;=-._~") if parts.fragment else ""
        self._params: _URLSearchParams | None = None

    def _set_query(self, query: str) -> None:
        self._search = "?" + query if query else ""

    @property
    def protocol(self) -> str:
        return self._protocol

    @property
    def username(self) -> str:
        return self._username

    @property
    def password(self) -> str:
        return self._password

    @property
    def hostname(self) -> str:
        return self._hostname

    @hostname.setter
    def hostname(self, value: str) -> None:
        self._hostname = value.lower()

    @property
    def port(self) -> str:
        return self._port

    @port.setter
    def port(self, value: Any) -> None:
        value = str(value)
        self._port = "" if _DEFAULT_PORTS.get(self._protocol) == value else value

    @property
    def host(self) -> str:
        return f"{self._hostname}:{self._port}" if self._port else self._hostname

    @property
    def origin(self) -> str:
        return f"{self._protocol}//{self.host}" if self._protocol in _SPECIAL else "null"

    @property
    def pathname(self) -> str:
        return self._pathname

    @pathname.setter
    def pathname(self, value: str) -> None:
        value = str(value)
        self._pathname = quote(value if value.startswith("/") else "/" + value, safe="/%:@!$&'()*+,;=-._~")

    @property
    def search(self) -> str:
        return self._search

    @search.setter
    def search(self, value: str) -> None:
        value = str(value)
        self._set_query(value[1:] if value.startswith("?") else value)
        self._params = None

    @property
    def hash(self) -> str:
        return self._hash

    @hash.setter
    def hash(self, value: str) -> None:
        value = str(value)
        self._hash = ("#" + value.lstrip("#")) if value else ""

    @property
    def searchParams(self) -> _URLSearchParams:  # noqa: N802 - JS spelling
        if self._params is None:
            self._params = _URLSearchParams(self._search, _owner=self)
        return self._params

    @property
    def href(self) -> str:
        auth = ""
        if self._username or self._password:
            auth = self._username + (f":{self._password}" if self._password else "") + "@"
        return urlunsplit((self._protocol[:-1], auth + self.host, self._pathname, self._search[1:], "")) + self._hash

    def toString(self) -> str:  # noqa: N802 - JS spelling
        return self.href

    toJSON = toString  # noqa: N815 - JS spelling

    def __str__(self) -> str:
        return self.href

    def __repr__(self) -> str:
        return f"URL {{ href: {self.href!r} }}"


class _URLClass(_JsClass):
    name = "URL"
    instance_type = _URL

    def new(self, url: Any, base: Any = None) -> _URL:
        return _URL(url, base)

    def canParse(self, url: Any, base: Any = None) -> bool:  # noqa: N802 - JS spelling
        try:
            _URL(url, base)
        except JsException:
            return False
        return True


class _URLSearchParamsClass(_JsClass):
    name = "URLSearchParams"
    instance_type = _URLSearchParams

    def new(self, init: Any = None) -> _URLSearchParams:
        return _URLSearchParams(init)


# --- language globals -------------------------------------------------------------------------------

def _json_default(value: Any) -> Any:
    if isinstance(value, JsDate):
        return value.toISOString()
    if isinstance(value, JsNull):
        return None
    if isinstance(value, (set, tuple)):
        return list(value)
    if isinstance(value, (_URL, _URLSearchParams)):
        return value.toString()
    to_json = getattr(value, "toJSON", None)
    if callable(to_json):
        return to_json()
    raise builtins.TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _raw(value: Any) -> Any:
    if isinstance(value, dict):
        return JsObjectProxy((k, _raw(v)) for k, v in value.items())
    if isinstance(value, list):
        return JsArray(_raw(v) for v in value)
    return value


class _JSON:
    def stringify(self, value: Any, replacer: Any = None, space: int | str | None = None) -> str:
        if isinstance(value, JsMap):
            value = {}  # a Map has no enumerable properties: JSON.stringify(map) is "{}"
        if space:
            return _json.dumps(value, indent=space, default=_json_default, ensure_ascii=False)
        return _json.dumps(value, separators=(",", ":"), default=_json_default, ensure_ascii=False)

    def parse(self, text: Any) -> Any:
        try:
            return _raw(_json.loads(text))
        except ValueError as exc:
            raise JsException("SyntaxError", f"Unexpected token in JSON: {exc}") from None


JSON = _JSON()


class _ObjectClass(_JsClass):
    name = "Object"
    instance_type = JsObjectProxy

    def new(self, *args: Any) -> JsObjectProxy:
        return JsObjectProxy()

    def fromEntries(self, entries: Any) -> JsObjectProxy:  # noqa: N802 - JS spelling
        return object_from_entries(entries)

    def keys(self, obj: Any) -> JsArray:
        return JsArray(obj.keys() if isinstance(obj, Mapping) else vars(obj))

    def values(self, obj: Any) -> JsArray:
        return JsArray(obj.values() if isinstance(obj, Mapping) else vars(obj).values())

    def entries(self, obj: Any) -> JsArray:
        items = obj.items() if isinstance(obj, Mapping) else vars(obj).items()
        return JsArray(JsArray([k, v]) for k, v in items)

    def assign(self, target: Any, *sources: Any) -> Any:
        for source in sources:
            if source is not None:
                target.update(source)
        return target


Object = _ObjectClass()


class _ArrayClass(_JsClass):
    name = "Array"
    instance_type = list

    def new(self, *items: Any) -> JsArray:
        if len(items) == 1 and isinstance(items[0], int):
            return JsArray([None] * items[0])
        return JsArray(items)

    def isArray(self, value: Any) -> bool:  # noqa: N802 - JS spelling
        return isinstance(value, list)

    def from_(self, iterable: Any) -> JsArray:
        return JsArray(iterable)

    def of(self, *items: Any) -> JsArray:
        return JsArray(items)


Array = _ArrayClass()


class _MapClass(_JsClass):
    name = "Map"
    instance_type = JsMap

    def new(self, entries: Any = None) -> JsMap:
        return JsMap((k, v) for k, v in (entries.items() if isinstance(entries, Mapping) else entries or ()))


class _SetClass(_JsClass):
    name = "Set"
    instance_type = JsSet

    def new(self, items: Any = None) -> JsSet:
        return JsSet(items or ())


Map = _MapClass()
Set = _SetClass()


def _now_ms() -> int:
    from emulator.runtime.invocation import current

    inv = current.get()
    if inv is not None:
        return int(inv.host.platform.clock.now_ms())
    return int(time.time() * 1000)


class _DateClass(_JsClass):
    name = "Date"
    instance_type = JsDate

    def now(self) -> int:
        """Milliseconds since the epoch, on the emulator's clock while app code runs."""
        return _now_ms()

    def new(self, *args: Any) -> JsDate:
        if not args:
            return JsDate(_now_ms())
        value = args[0]
        if isinstance(value, str):
            return JsDate(self.parse(value))
        if isinstance(value, JsDate):
            return JsDate(value.getTime())
        if len(args) > 1:
            return JsDate(self.UTC(*args))
        return JsDate(float(value))

    def parse(self, text: str) -> float:
        import datetime as dt

        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return math.nan
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.timestamp() * 1000

    def UTC(self, year: int, month: int = 0, day: int = 1, hours: int = 0, minutes: int = 0,  # noqa: N802 - JS spelling
            seconds: int = 0, ms: int = 0) -> float:
        import calendar

        return (calendar.timegm((year, month + 1, day, hours, minutes, seconds)) * 1000) + ms

    def __call__(self, *args: Any) -> str:
        return JsDate(_now_ms()).toISOString()


Date = _DateClass()


class _MathNamespace:
    PI = math.pi
    E = math.e

    def random(self) -> float:
        return _random.random()  # noqa: S311 - Math.random() is not cryptographic either

    floor = staticmethod(math.floor)
    ceil = staticmethod(math.ceil)
    trunc = staticmethod(math.trunc)
    sqrt = staticmethod(math.sqrt)
    abs = staticmethod(abs)
    max = staticmethod(max)
    min = staticmethod(min)
    pow = staticmethod(math.pow)
    log = staticmethod(math.log)

    def round(self, x: float) -> int:
        return math.floor(x + 0.5)


Math = _MathNamespace()


class _NumberClass(_JsClass):
    name = "Number"
    MAX_SAFE_INTEGER = 2**53 - 1
    MIN_SAFE_INTEGER = -(2**53 - 1)

    def __call__(self, value: Any = 0) -> float:
        try:
            return float(value)
        except (builtins.TypeError, ValueError):
            return math.nan

    def isInteger(self, value: Any) -> bool:  # noqa: N802 - JS spelling
        return isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer()

    def parseFloat(self, text: str) -> float:  # noqa: N802 - JS spelling
        return self(text)

    def parseInt(self, text: str, radix: int = 10) -> float:  # noqa: N802 - JS spelling
        try:
            return int(str(text).strip(), radix)
        except ValueError:
            return math.nan


Number = _NumberClass()


class _ErrorClass(_JsClass):
    def __init__(self, name: str) -> None:
        self.name = name
        self.stackTraceLimit = 10

    def new(self, message: Any = "", *args: Any) -> JsException:
        return JsException(self.name, "" if message is None else str(message))

    def __call__(self, message: Any = "", *args: Any) -> JsException:
        return self.new(message)


Error = _ErrorClass("Error")
TypeError_ = _ErrorClass("TypeError")
RangeError = _ErrorClass("RangeError")
SyntaxError_ = _ErrorClass("SyntaxError")


class _ArrayBufferClass(_JsClass):
    name = "ArrayBuffer"
    instance_type = JsArrayBuffer

    def new(self, length: int = 0) -> JsArrayBuffer:
        return JsArrayBuffer(bytes(int(length)))

    def isView(self, value: Any) -> bool:  # noqa: N802 - JS spelling
        return isinstance(value, JsUint8Array)


class _Uint8ArrayClass(_JsClass):
    name = "Uint8Array"
    instance_type = JsUint8Array

    def new(self, source: Any = 0, *args: Any) -> JsUint8Array:
        if isinstance(source, int):
            return JsUint8Array(bytes(source))
        return JsUint8Array(bytes(source))

    def from_(self, source: Any) -> JsUint8Array:
        return JsUint8Array(bytes(source))


ArrayBuffer = _ArrayBufferClass()
Uint8Array = _Uint8ArrayClass()


class _Subtle:
    def __getattr__(self, name: str) -> Any:
        raise NotImplementedError(
            f"crypto.subtle.{name} is not emulated by cf-emulator: use Python's hashlib / hmac / secrets "
            "(or the `cryptography` package) in Python Workers")


class _Crypto:
    subtle = _Subtle()

    def randomUUID(self) -> str:  # noqa: N802 - JS spelling
        return str(uuid.uuid4())

    def getRandomValues(self, array: Any) -> JsUint8Array:  # noqa: N802 - JS spelling
        """A new array of the same length with random bytes (bytes are immutable here, so
        the argument is not filled in place as in JS: use the return value)."""
        return JsUint8Array(secrets.token_bytes(len(array)))


crypto = _Crypto()


def _fmt(args: tuple[Any, ...]) -> str:
    def one(value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, (dict, list)):
            try:
                return JSON.stringify(value)
            except builtins.TypeError:
                return repr(value)
        if value is None:
            return "undefined"
        if value is True or value is False:
            return "true" if value else "false"
        return str(value)

    return " ".join(one(a) for a in args)


class _Console:
    """Writes go to stdout/stderr, which the emulator attributes to the running app."""

    def log(self, *args: Any) -> None:
        print(_fmt(args))

    info = log
    debug = log

    def warn(self, *args: Any) -> None:
        print(_fmt(args), file=sys.stderr)

    error = warn


console = _Console()


def queueMicrotask(callback: Any) -> None:  # noqa: N802 - JS spelling
    asyncio.get_running_loop().call_soon(callback)


def setTimeout(callback: Any, delay: float = 0, *args: Any) -> Any:  # noqa: N802 - JS spelling
    """Call ``callback`` after ``delay`` ms, on the emulator's clock."""
    from emulator.runtime.invocation import current

    inv = current.get()
    if inv is None:
        return asyncio.get_running_loop().call_later(delay / 1000, callback, *args)
    return inv.host.platform.clock.call_later(delay / 1000, lambda: callback(*args))


def clearTimeout(handle: Any) -> None:  # noqa: N802 - JS spelling
    if handle is not None:
        handle.cancel()


# --- WebSockets -------------------------------------------------------------------------------------

class _WebSocketPairClass(_JsClass):
    name = "WebSocketPair"
    instance_type = _WebSocketPair

    def new(self) -> _WebSocketPair:
        return _WebSocketPair()


class _WebSocketRequestResponsePairClass(_JsClass):
    name = "WebSocketRequestResponsePair"
    instance_type = _WebSocketRequestResponsePair

    def new(self, request: str, response: str) -> _WebSocketRequestResponsePair:
        return _WebSocketRequestResponsePair(request, response)


class _WebSocketClass(_JsClass):
    name = "WebSocket"
    instance_type = _WebSocket
    READY_STATE_CONNECTING, READY_STATE_OPEN, READY_STATE_CLOSING, READY_STATE_CLOSED = 0, 1, 2, 3

    def new(self, url: Any, *args: Any) -> _WebSocket:
        raise NotImplementedError(
            f"new WebSocket({url!r}): outbound WebSockets are not emulated by cf-emulator")


class _HTMLRewriterClass(_JsClass):
    name = "HTMLRewriter"

    def new(self, *args: Any) -> Any:
        raise NotImplementedError("HTMLRewriter is not emulated by cf-emulator (it is workerd's streaming "
                                  "HTML parser); parse HTML with a Python library instead")


Response = _ResponseClass()
Request = _RequestClass()
Headers = _HeadersClass()
FormData = _FormDataClass()
Blob = _BlobClass()
File = _FileClass()
ReadableStream = _ReadableStreamClass()
WebSocketPair = _WebSocketPairClass()
WebSocketRequestResponsePair = _WebSocketRequestResponsePairClass()
WebSocket = _WebSocketClass()
HTMLRewriter = _HTMLRewriterClass()
URL = _URLClass()
URLSearchParams = _URLSearchParamsClass()
# JS's error constructors, under their JS names (shadowing the builtins in this module only).
TypeError = TypeError_
SyntaxError = SyntaxError_


def __getattr__(name: str) -> Any:
    raise AttributeError(
        f"js.{name}: cf-emulator provides the JS globals Python Workers code commonly uses (Response, "
        "Request, Headers, URL, URLSearchParams, FormData, Blob, Object, JSON, console, Date, Math, "
        "WebSocketPair, fetch, ...), not this one")
