"""``Request``, ``Response``, ``Headers``, ``FormData`` and ``fetch`` as app code sees them.

Shapes follow Cloudflare's Python Workers SDK (``workers-py`` ``packages/runtime-sdk``,
python-ecosystem.md §1.2), which wraps the JS Fetch API: ``Response(body, status,
headers)``, ``Response.json(data)`` as a static constructor *and* ``await resp.json()`` on
an instance, ``Response.redirect(url, status=302)``, ``Request.url`` as a string,
``await request.text()/json()/bytes()/form_data()``. Default headers are workerd's: a
``str`` body gets ``text/plain;charset=UTF-8``, ``Response.json`` gets
``application/json``, a ``bytes`` body gets no content type.

This module also converts between these objects and aiohttp's (``request_from_aiohttp``,
``to_aiohttp_response``); the conversion is on every request's path, so it stays lean.
"""

from __future__ import annotations

import builtins
import email.parser
import email.policy
import http
import json as _json
import secrets
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Union
from urllib.parse import parse_qsl, urljoin, urlsplit

from multidict import CIMultiDict, CIMultiDictProxy

from emulator.jsobject import JsObject

if TYPE_CHECKING:
    from aiohttp import web

TEXT_PLAIN = "text/plain;charset=UTF-8"
_TEXT_PLAIN_HEADER = (("content-type", TEXT_PLAIN),)
APPLICATION_JSON = "application/json"
_NULL_BODY_STATUSES = frozenset({101, 204, 205, 304})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_METHODS = {m.value: m for m in http.HTTPMethod}


class Headers(MutableMapping[str, str]):
    """Case-insensitive HTTP headers with the JS ``Headers`` and ``dict`` surfaces.

    Iteration yields lower-cased names and ``get`` joins repeated values with ``", "``,
    as JS ``Headers`` does; ``get_all`` returns them separately (``set-cookie``).
    Incoming headers are wrapped without copying until the app changes them.
    """

    __slots__ = ("_h", "_owned")

    def __init__(self, init: Any = None) -> None:
        if init is None:
            self._h: CIMultiDict[str] | CIMultiDictProxy[str] = CIMultiDict()
            self._owned = True
            return
        if isinstance(init, CIMultiDictProxy):
            self._h = init
            self._owned = False
            return
        self._h = CIMultiDict()
        self._owned = True
        if isinstance(init, Headers):
            self._h.extend(init._h.items())
        elif isinstance(init, Mapping):
            for name, value in init.items():
                self._h.add(str(name), str(value))
        elif isinstance(init, Iterable) and not isinstance(init, (str, bytes)):
            for pair in init:
                name, value = pair
                self._h.add(str(name), str(value))
        else:
            raise TypeError("headers must be a dict, a list of (name, value) pairs or Headers")

    def _writable(self) -> CIMultiDict[str]:
        if not self._owned:
            self._h = CIMultiDict(self._h)
            self._owned = True
        assert isinstance(self._h, CIMultiDict)
        return self._h

    # -- reading
    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        values = self._h.getall(name, None)
        if not values:
            return default
        return values[0] if len(values) == 1 else ", ".join(values)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return str(value)

    def get_all(self, name: str) -> list[str]:
        return list(self._h.getall(name, []))

    getAll = get_all  # noqa: N815 - JS spelling

    def getSetCookie(self) -> list[str]:  # noqa: N802 - JS spelling
        return self.get_all("set-cookie")

    def has(self, name: str) -> bool:
        return name in self._h

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._h

    def __iter__(self) -> Iterator[str]:
        seen: list[str] = []
        for name in self._h.keys():
            lower = name.lower()
            if lower not in seen:
                seen.append(lower)
        return iter(seen)

    def __len__(self) -> int:
        return len({k.lower() for k in self._h.keys()})

    def raw_items(self) -> list[tuple[str, str]]:
        """Every (name, value) pair, repeated names kept (what goes on the wire)."""
        return list(self._h.items())

    # -- writing
    def set(self, name: str, value: str) -> None:
        self._writable()[name] = str(value)

    def append(self, name: str, value: str) -> None:
        self._writable().add(name, str(value))

    def delete(self, name: str) -> None:
        self._writable().popall(name, None)

    def __setitem__(self, name: str, value: str) -> None:
        self.set(name, value)

    def __delitem__(self, name: str) -> None:
        if name not in self._h:
            raise KeyError(name)
        self.delete(name)

    def copy(self) -> "Headers":
        return Headers(self)

    def __repr__(self) -> str:
        return f"Headers({self.raw_items()!r})"


class Blob:
    """Binary data with a content type (JS ``Blob``)."""

    def __init__(self, parts: bytes | str | Iterable[bytes | str] | None = None, type: str = "") -> None:
        if parts is None:
            data = b""
        elif isinstance(parts, (bytes, bytearray, memoryview)):
            data = bytes(parts)
        elif isinstance(parts, str):
            data = parts.encode()
        else:
            data = b"".join(p.encode() if isinstance(p, str) else bytes(p) for p in parts)
        self._data = data
        self.type = type

    @property
    def size(self) -> int:
        return len(self._data)

    async def bytes(self) -> builtins.bytes:
        return self._data

    async def text(self) -> str:
        return self._data.decode("utf-8", errors="replace")

    async def arrayBuffer(self) -> builtins.bytes:  # noqa: N802 - JS spelling
        return self._data

    array_buffer = arrayBuffer

    def __repr__(self) -> str:
        return f"<{type(self).__name__} size={self.size} type={self.type!r}>"


class File(Blob):
    """An uploaded file (JS ``File``): a ``Blob`` with a ``name``."""

    def __init__(self, parts: bytes | str | Iterable[bytes | str] | None, name: str, type: str = "",
                 last_modified: int = 0) -> None:
        super().__init__(parts, type)
        self.name = name
        self.lastModified = last_modified
        self.last_modified = last_modified


FormValue = Union[str, File]


class FormData:
    """Form fields and files in order (JS ``FormData``); ``get`` returns the first value."""

    def __init__(self, entries: Iterable[tuple[str, FormValue]] | Mapping[str, FormValue] | None = None) -> None:
        self._entries: list[tuple[str, FormValue]] = []
        if isinstance(entries, Mapping):
            entries = entries.items()
        for name, value in entries or ():
            self.append(name, value)

    def append(self, name: str, value: FormValue | Blob, filename: str | None = None) -> None:
        self._entries.append((name, _form_value(value, filename)))

    def set(self, name: str, value: FormValue | Blob, filename: str | None = None) -> None:
        self.delete(name)
        self.append(name, value, filename)

    def delete(self, name: str) -> None:
        self._entries = [(k, v) for k, v in self._entries if k != name]

    def get(self, name: str, default: Any = None) -> Any:
        for key, value in self._entries:
            if key == name:
                return value
        return default

    def get_all(self, name: str) -> list[FormValue]:
        return [v for k, v in self._entries if k == name]

    getAll = get_all  # noqa: N815 - JS spelling

    def has(self, name: str) -> bool:
        return any(k == name for k, _ in self._entries)

    __contains__ = has  # type: ignore[assignment]

    def __getitem__(self, name: str) -> FormValue:
        for key, value in self._entries:
            if key == name:
                return value
        raise KeyError(name)

    def keys(self) -> list[str]:
        return [k for k, _ in self._entries]

    def values(self) -> list[FormValue]:
        return [v for _, v in self._entries]

    def items(self) -> list[tuple[str, FormValue]]:
        return list(self._entries)

    entries = items

    def __iter__(self) -> Iterator[tuple[str, FormValue]]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def encode(self) -> tuple[bytes, str]:
        """The multipart/form-data body and its content type."""
        boundary = "----cfemulator" + secrets.token_hex(12)
        out: list[bytes] = []
        for name, value in self._entries:
            out.append(f"--{boundary}\r\n".encode())
            qname = _quote_param(name)
            if isinstance(value, File):
                out.append(
                    f'Content-Disposition: form-data; name="{qname}"; filename="{_quote_param(value.name)}"\r\n'
                    f"Content-Type: {value.type or 'application/octet-stream'}\r\n\r\n".encode()
                )
                out.append(value._data)
            else:
                out.append(f'Content-Disposition: form-data; name="{qname}"\r\n\r\n'.encode())
                out.append(value.encode())
            out.append(b"\r\n")
        out.append(f"--{boundary}--\r\n".encode())
        return b"".join(out), f"multipart/form-data; boundary={boundary}"

    def __repr__(self) -> str:
        return f"FormData({self._entries!r})"


def _quote_param(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _form_value(value: Any, filename: str | None) -> FormValue:
    if isinstance(value, File) and filename is None:
        return value
    if isinstance(value, Blob):
        return File(value._data, filename or getattr(value, "name", None) or "blob", value.type)
    return str(value)


def parse_form(body: bytes, content_type: str | None) -> FormData:
    """Parse an ``application/x-www-form-urlencoded`` or ``multipart/form-data`` body."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime == "application/x-www-form-urlencoded":
        return FormData(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
    if mime == "multipart/form-data":
        header = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + body)
        form = FormData()
        if not message.is_multipart():
            raise TypeError("Failed to parse body as FormData: malformed multipart body")
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            data = part.get_payload(decode=True)
            payload = data if isinstance(data, bytes) else b""
            filename = part.get_filename()
            if filename is not None:
                form.append(name, File(payload, filename, part.get_content_type()
                                       if part.get("content-type") else "application/octet-stream"))
            else:
                charset = part.get_content_charset() or "utf-8"
                form.append(name, payload.decode(charset, errors="replace"))
        return form
    raise TypeError(
        "Failed to parse body as FormData: content-type must be multipart/form-data or "
        f"application/x-www-form-urlencoded, got {content_type!r}"
    )


BodyInit = Union[str, bytes, bytearray, memoryview, FormData, Blob, AsyncIterable[bytes], None]


class _BodySource:
    """A request body read once from the network and shared by clones."""

    __slots__ = ("_read", "_data")

    def __init__(self, read: Callable[[], Awaitable[bytes]]) -> None:
        self._read: Callable[[], Awaitable[bytes]] | None = read
        self._data: bytes | None = None

    async def get(self) -> bytes:
        if self._data is None:
            assert self._read is not None
            self._data = await self._read()
            self._read = None
        return self._data


class _Body:
    """The body-reading half shared by ``Request`` and ``Response``."""

    _body: bytes | None
    _stream: AsyncIterable[bytes] | None
    _source: _BodySource | None
    headers: Headers

    def _init_body(self, body: Any, headers: Headers) -> None:
        self._body = None
        self._stream = None
        self._source = None
        self.body_used = False
        if body is None:
            return
        if isinstance(body, str):
            self._body = body.encode()
            if "content-type" not in headers._h:
                headers._writable()["content-type"] = TEXT_PLAIN
        elif isinstance(body, (bytes, bytearray, memoryview)):
            self._body = bytes(body)
        elif isinstance(body, FormData):
            self._body, ctype = body.encode()
            if "content-type" not in headers:
                headers.set("content-type", ctype)
        elif isinstance(body, Blob):
            self._body = body._data
            if body.type and "content-type" not in headers:
                headers.set("content-type", body.type)
        elif isinstance(body, _BodySource):
            self._source = body
        elif isinstance(body, AsyncIterable):
            self._stream = body
        elif isinstance(body, (dict, list)):
            raise TypeError(
                "a body must be str, bytes, FormData, an async iterator of bytes or None; "
                "for JSON use Response.json(data) or json.dumps(data)"
            )
        else:
            raise TypeError(f"unsupported body type {type(body).__name__}: use str, bytes, FormData, "
                            "an async iterator of bytes or None")

    @property
    def bodyUsed(self) -> bool:  # noqa: N802 - JS spelling
        return self.body_used

    async def bytes(self) -> builtins.bytes:
        self.body_used = True
        if self._body is not None:
            return self._body
        if self._source is not None:
            self._body = await self._source.get()
            return self._body
        if self._stream is not None:
            chunks = [bytes(c.encode() if isinstance(c, str) else c) async for c in self._stream]
            self._stream = None
            self._body = b"".join(chunks)
            return self._body
        return b""

    async def text(self) -> str:
        return (await self.bytes()).decode("utf-8", errors="replace")

    async def _read_json(self) -> Any:
        return _json.loads(await self.bytes())

    async def arrayBuffer(self) -> builtins.bytes:  # noqa: N802 - JS spelling
        return await self.bytes()

    array_buffer = arrayBuffer
    buffer = arrayBuffer

    async def blob(self) -> Blob:
        return Blob(await self.bytes(), self.headers.get("content-type") or "")

    async def form_data(self) -> FormData:
        return parse_form(await self.bytes(), self.headers.get("content-type"))

    formData = form_data  # noqa: N815 - JS spelling

    def _clone_body(self) -> Any:
        if self._stream is not None:
            raise TypeError("cannot clone a streaming body; read it with `await bytes()` first")
        return self._source if self._body is None and self._source is not None else self._body


class _JsonAccessor:
    """``Response.json(data)`` builds a JSON response; ``await response.json()`` reads one."""

    def __get__(self, obj: Any, owner: type) -> Any:
        if obj is None:
            return getattr(owner, "from_json")
        return obj._read_json


class Request(_Body):
    """An HTTP request (JS ``Request``): ``url``, ``method``, ``headers``, body readers, ``cf``."""

    json = _JsonAccessor()
    cf: JsObject
    redirect: str

    def __init__(self, input: "str | Request", method: str | None = None, headers: Any = None,
                 body: BodyInit | _BodySource = None, cf: Mapping[str, Any] | None = None,
                 redirect: str = "follow", **init: Any) -> None:
        if isinstance(input, Request):
            base = input
            url = base.url
            method = method or str(base.method)
            if headers is None:
                headers = base.headers
            if body is None and "body" not in init:
                body = base._clone_body()
            cf = cf if cf is not None else base.cf
            redirect = base.redirect if redirect == "follow" else redirect
        else:
            url = str(input)
        upper = (method or "GET").upper()
        self.method: http.HTTPMethod | str = _METHODS.get(upper, upper)
        self.url: str = url
        self.headers = Headers(headers)
        if body is not None and upper in ("GET", "HEAD"):
            raise TypeError("Request with a GET or HEAD method cannot have a body.")
        self._init_body(body, self.headers)
        self.cf = JsObject(cf or {})
        self.redirect = redirect

    def clone(self) -> "Request":
        return Request(self)

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.url}>"


class Response(_Body):
    """An HTTP response (JS ``Response``)."""

    json = _JsonAccessor()

    def __init__(self, body: BodyInit = None, status: int | None = None, status_text: str = "",
                 headers: Any = None, web_socket: Any = None, *, statusText: str | None = None,
                 url: str = "") -> None:
        if status is None:
            self.status = 200
        else:
            self.status = status = int(status)
            if not 200 <= status <= 599 and status != 101:
                raise ValueError(f"Response status must be in the range 200 to 599, got {status}")
        self.status_text = statusText if statusText is not None else status_text
        self.url = url
        self.web_socket = web_socket
        if headers is None and type(body) is str and status not in _NULL_BODY_STATUSES:
            # `Response("text")`, the commonest response of all (bench/http.py): what
            # `_init_body` does for a str body, without its type dispatch.
            own = self.headers = Headers.__new__(Headers)
            own._h = CIMultiDict(_TEXT_PLAIN_HEADER)
            own._owned = True
            self._body = body.encode()
            self._stream = None
            self._source = None
            self.body_used = False
            return
        # `None` first: Headers is a MutableMapping, so isinstance goes through the ABC
        # machinery, and most responses pass no headers.
        if headers is None:
            headers = Headers()
        elif not isinstance(headers, Headers):
            headers = Headers(headers)
        self.headers = headers
        if body is not None and self.status in _NULL_BODY_STATUSES:
            raise TypeError(f"Response with null body status {self.status} cannot have a body.")
        self._init_body(body, headers)

    @classmethod
    def from_json(cls, data: Any, status: int = 200, status_text: str = "", headers: Any = None,
                  **_: Any) -> "Response":
        hdrs = Headers(headers)
        if "content-type" not in hdrs:
            hdrs.set("content-type", APPLICATION_JSON)
        return cls(_json.dumps(data, default=_json_default), status=status, status_text=status_text,
                   headers=hdrs)

    @classmethod
    def redirect(cls, url: str, status: int = 302) -> "Response":
        if status not in _REDIRECT_STATUSES:
            raise ValueError(f"Invalid redirect status {status}: use 301, 302, 303, 307 or 308")
        return cls(None, status=status, headers={"location": str(url)})

    @property
    def ok(self) -> bool:
        return 200 <= self.status <= 299

    @property
    def statusText(self) -> str:  # noqa: N802 - JS spelling
        return self.status_text

    def clone(self) -> "Response":
        return Response(self._clone_body(), status=self.status, status_text=self.status_text,
                        headers=self.headers.copy(), url=self.url)

    def __repr__(self) -> str:
        return f"<Response {self.status}>"


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def resolve_url(url: str, base: str) -> str:
    """Resolve a possibly relative URL against ``base`` (JS ``new URL(url, base)``)."""
    return urljoin(base, url)


async def fetch(input: "str | Request", method: str | None = None, headers: Any = None,
                body: BodyInit = None, redirect: str = "follow", cf: Any = None,
                **_: Any) -> Response:
    """Outbound HTTP (the global ``fetch``), over an aiohttp client session."""
    import aiohttp

    request = input if isinstance(input, Request) and method is None and headers is None and body is None \
        else Request(input, method=method, headers=headers, body=body)
    if isinstance(input, Request):
        redirect = input.redirect if redirect == "follow" else redirect
    data = await request.bytes() if str(request.method) not in ("GET", "HEAD") else None
    async with aiohttp.ClientSession(auto_decompress=True) as session:
        async with session.request(
            str(request.method), request.url, headers=request.headers.raw_items(), data=data,
            allow_redirects=(redirect != "manual"),
        ) as upstream:
            payload = await upstream.read()
            # The body is already decoded; keep the length/encoding headers from lying about it.
            out_headers = [(k, v) for k, v in upstream.headers.items()
                           if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
            return Response(payload if upstream.status not in _NULL_BODY_STATUSES else None,
                            status=upstream.status, status_text=upstream.reason or "",
                            headers=out_headers, url=str(upstream.url))


# --- aiohttp conversions -------------------------------------------------------------------

class _IncomingRequest(Request):
    """A ``Request`` wrapping an aiohttp request: ``url``, ``cf`` and ``headers`` are built on first use.

    Many handlers never read them (a hello-world Worker does not), and formatting the URL
    from the request line (``req.scheme`` and ``req.host`` are computed properties) plus
    copying ``cf`` is a measurable share of the request path (bench/http.py). Reading or
    assigning them behaves exactly like ``Request``'s plain attributes.
    """

    _aio: "web.BaseRequest | None"
    _cf_init: Mapping[str, Any] | None
    # What every incoming request starts with, as class attributes: an assignment (the
    # app reading the body, say) shadows them per instance, exactly like the attributes
    # ``Request.__init__`` sets, and `request_from_aiohttp` has four stores less to do.
    _body: bytes | None = None
    _stream: AsyncIterable[bytes] | None = None
    body_used = False
    redirect = "follow"

    @property  # type: ignore[override]
    def url(self) -> str:
        d = self.__dict__
        if "_url" not in d:
            req = self._aio
            assert req is not None
            raw_path = req.raw_path
            # Formatting the URL from the request line is several times cheaper than
            # aiohttp's ``req.url`` (a yarl URL); absolute-form targets (proxies) still
            # take the general path.
            d["_url"] = f"{req.scheme}://{req.host}{raw_path}" if raw_path.startswith("/") else str(req.url)
        return str(d["_url"])

    @url.setter
    def url(self, value: str) -> None:
        self.__dict__["_url"] = value

    @property  # type: ignore[override]
    def headers(self) -> Headers:
        # The aiohttp headers, wrapped (not copied) when first read: many handlers never
        # look at them.
        d = self.__dict__
        if "_headers" not in d:
            req = self._aio
            assert req is not None
            d["_headers"] = Headers(req.headers)
        return d["_headers"]  # type: ignore[no-any-return]

    @headers.setter
    def headers(self, value: Headers) -> None:
        self.__dict__["_headers"] = value

    @property  # type: ignore[override]
    def cf(self) -> JsObject:
        d = self.__dict__
        if "_cf" not in d:
            d["_cf"] = JsObject(self._cf_init or {})
        return d["_cf"]  # type: ignore[no-any-return]

    @cf.setter
    def cf(self, value: JsObject) -> None:
        self.__dict__["_cf"] = value

    def pathname(self) -> str:
        """The URL's path (``urlsplit(url).path``) without building the URL."""
        return request_pathname(self)


def request_pathname(request: Request) -> str:
    """The path of a request's URL (JS ``new URL(request.url).pathname``)."""
    if type(request) is _IncomingRequest:
        # From the request line when the URL was neither built nor replaced (this runs on
        # every Pages request): no URL to format, no urlsplit.
        d = request.__dict__
        aio = d["_aio"]
        if aio is not None and "_url" not in d:
            raw_path: str = aio.raw_path
            if raw_path.startswith("/"):
                if "?" in raw_path or "#" in raw_path:
                    return raw_path.partition("?")[0].partition("#")[0]
                return raw_path
    return urlsplit(request.url).path


def request_from_aiohttp(req: "web.Request", cf: Mapping[str, Any] | None = None) -> Request:
    """Wrap an incoming aiohttp request; the body is read only if the app asks for it."""
    r = _IncomingRequest.__new__(_IncomingRequest)
    d = r.__dict__
    d["_aio"] = req
    d["_cf_init"] = cf
    d["method"] = _METHODS.get(req.method, req.method)
    d["_source"] = _BodySource(req.read) if req.can_read_body else None
    return r


_aiohttp_web: Any = None


def _load_aiohttp_web() -> Any:
    # aiohttp is imported lazily: app code importing `workers` should not pay for it.
    global _aiohttp_web
    from aiohttp import web

    _aiohttp_web = web
    return web


def _aiohttp_response(resp: Response, body: bytes | None) -> "web.Response":
    """``resp`` with ``body`` in memory as an aiohttp response."""
    # Bound once rather than an import statement per request (this runs for every request).
    web = _aiohttp_web or _load_aiohttp_web()
    status = resp.status
    if status in _NULL_BODY_STATUSES:
        body = None
    # aiohttp copies the headers into its own CIMultiDict: hand it ours (a multidict copies
    # another multidict faster than a list of pairs); repeated names are kept either way.
    out = web.Response(status=status, reason=resp.status_text or None, body=body, headers=resp.headers._h)
    if body is None and "content-type" not in resp.headers._h:
        # aiohttp would otherwise announce application/octet-stream for an empty body.
        out.headers.pop("Content-Type", None)
    return out


def buffered_aiohttp_response(resp: Response) -> "web.Response | None":
    """``resp`` as an aiohttp response if its body is already in memory, else None.

    A plain function, so the common case (a body given as str or bytes) costs no
    coroutine; ``to_aiohttp_response`` covers the rest (streams, WebSocket upgrades).
    """
    if resp._stream is not None or (resp._body is None and resp._source is not None) or resp.web_socket is not None:
        return None
    return _aiohttp_response(resp, resp._body)


async def to_aiohttp_response(resp: Response, req: "web.Request") -> "web.StreamResponse":
    """Write an app's ``Response`` back through aiohttp."""
    if resp.web_socket is not None:
        return await _upgrade(resp, req)
    if resp._stream is None:
        body = resp._body
        if body is None and resp._source is not None:
            # A body still to be read (a request's body handed on as the response's).
            body = await resp._source.get()
        return _aiohttp_response(resp, body)
    web = _aiohttp_web or _load_aiohttp_web()
    headers = resp.headers._h
    stream = web.StreamResponse(status=resp.status, reason=resp.status_text or None, headers=headers)
    await stream.prepare(req)
    iterator: AsyncIterator[Any] = aiter(resp._stream)
    async for chunk in iterator:
        await stream.write(chunk.encode() if isinstance(chunk, str) else bytes(chunk))
    await stream.write_eof()
    return stream


# --- WebSocket upgrades ----------------------------------------------------------------------
#
# An app answers a WebSocket handshake with ``Response(None, status=101, web_socket=client)``,
# ``client`` being one end of a ``WebSocketPair``. The runtime then upgrades the connection with
# aiohttp and hands it to that end, which must provide:
#
#     upgrade_problem() -> str | None              why it cannot be returned (workerd's checks)
#     async serve_connection(ws: web.WebSocketResponse) -> None
#                                                   carry frames both ways until the socket closes
#
# Upgraded sockets are recorded with the connection (aiohttp ``RequestHandler``) they took over
# (``upgraded_websockets()``), so a stopping server closes them (1001, "going away") instead of
# waiting for them to end.

_UPGRADED: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()
_NOT_AN_UPGRADE = ('Worker tried to return a WebSocket in a response to a request which did not contain the '
                   'header "Upgrade: websocket".')


def upgraded_websockets() -> dict[Any, Any]:
    """Every open upgraded WebSocket (``web.WebSocketResponse``) → its connection's handler."""
    return {ws: protocol for ws, protocol in list(_UPGRADED.items()) if not ws.closed}


async def _upgrade(resp: Response, req: "web.Request") -> "web.StreamResponse":
    web = _aiohttp_web or _load_aiohttp_web()
    end = resp.web_socket
    problem = None if req.headers.get("upgrade", "").lower() == "websocket" else _NOT_AN_UPGRADE
    if problem is None:
        problem = end.upgrade_problem()
    if problem is not None:
        return web.Response(status=500, text=f"Internal Server Error: {problem}\n")
    protocol = resp.headers.get("sec-websocket-protocol")
    ws = web.WebSocketResponse(autoclose=False, protocols=(protocol,) if protocol else ())
    for name, value in resp.headers.raw_items():
        if name.lower() not in ("sec-websocket-protocol", "upgrade", "connection", "content-length",
                                "content-type", "transfer-encoding"):
            ws.headers.add(name, value)
    await ws.prepare(req)
    _UPGRADED[ws] = req.protocol
    try:
        await end.serve_connection(ws)
    finally:
        _UPGRADED.pop(ws, None)
    return ws
