"""The aiohttp side of the Fetch API objects: incoming requests in, app responses out.

``request_from_aiohttp`` wraps an aiohttp request as the ``Request`` an app sees (lazily:
URL, headers and ``cf`` are built on first use); ``buffered_aiohttp_response`` and
``to_aiohttp_response`` write an app's ``Response`` back through aiohttp (bodies in memory,
streams, WebSocket upgrades). This runs on every request's path, so it stays lean: it is the
other half of ``emulator.runtime.http`` and reads those objects' private fields (the body
as given, the headers' multidict) instead of copying them. The request body limit and
where uploads spill are the platform's ``RequestBodies`` (``emulator.runtime.body``).
"""

from __future__ import annotations

import builtins
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from multidict import CIMultiDict, CIMultiDictProxy

from emulator.jsobject import JsObject
from emulator.runtime.body import NetworkBody, RequestBodies
from emulator.runtime.http import _METHODS, _NULL_BODY_STATUSES, _STREAM_CHUNK, Headers, Request, Response

if TYPE_CHECKING:
    from aiohttp import web


class _IncomingRequest(Request):
    """A ``Request`` wrapping an aiohttp request: ``url``, ``cf`` and ``headers`` are built on first use.

    Many handlers never read them (a hello-world Worker does not), and formatting the URL
    from the request line (``req.scheme`` and ``req.host`` are computed properties) plus
    copying ``cf`` is a measurable share of the request path (bench/http.py). Reading or
    assigning them behaves exactly like ``Request``'s plain attributes.
    """

    _aio: web.BaseRequest | None
    _cf_init: Mapping[str, Any] | None
    # What every incoming request starts with, as class attributes: an assignment (the
    # app reading the body, say) shadows them per instance, exactly like the attributes
    # ``Request.__init__`` sets, and ``__init__`` has four stores less to do.
    _body: bytes | None = None
    _stream: AsyncIterable[bytes] | None = None
    body_used = False
    redirect = "follow"

    def __init__(self, req: web.BaseRequest, cf: Mapping[str, Any] | None, bodies: RequestBodies) -> None:
        # Not ``Request.__init__``: nothing is parsed or copied until the app asks for it.
        self._aio = req
        self._cf_init = cf
        self.method = _METHODS.get(req.method, req.method)
        self._source = NetworkBody(req, bodies) if req.can_read_body else None

    @property
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

    @property
    def headers(self) -> Headers:
        # The aiohttp headers, wrapped (not copied) when first read: many handlers never
        # look at them.
        d = self.__dict__
        if "_headers" not in d:
            req = self._aio
            assert req is not None
            d["_headers"] = Headers(_as_workerd_decodes(req.headers))
        return d["_headers"]  # type: ignore[no-any-return]  # cached in __dict__ by this property

    @headers.setter
    def headers(self, value: Headers) -> None:
        self.__dict__["_headers"] = value

    @property
    def cf(self) -> JsObject:
        d = self.__dict__
        if "_cf" not in d:
            d["_cf"] = JsObject(self._cf_init or {})
        return d["_cf"]  # type: ignore[no-any-return]  # cached in __dict__ by this property

    @cf.setter
    def cf(self, value: JsObject) -> None:
        self.__dict__["_cf"] = value

    def pathname(self) -> str:
        """The URL's path (``urlsplit(url).path``) without building the URL."""
        return request_pathname(self)

    async def _body_chunks(self) -> AsyncIterator[builtins.bytes]:
        # `request.body` streamed straight from the connection, chunk by chunk, when nothing
        # has buffered the body yet; otherwise as any other request.
        source = self._source
        aio = self._aio
        if self._body is None and source is not None and source._data is None and aio is not None:
            async for chunk in aio.content.iter_chunked(_STREAM_CHUNK):
                yield chunk
            return
        async for chunk in super()._body_chunks():
            yield chunk


def request_pathname(request: Request) -> str:
    """The path of a request's URL (JS ``new URL(request.url).pathname``)."""
    if type(request) is _IncomingRequest:
        # From the request line when the URL was neither built nor replaced; the same as
        # ``urlsplit(request.url).path`` for any valid Host (a property test checks), and it
        # does not depend on the Host header at all (``Host: [`` makes urlsplit raise). That,
        # not speed, is why it stays: bench/http.py, median of 12 interleaved sessions,
        # 2026-12-07: Pages Function 62 µs CPU per request vs 64.5 µs with urlsplit alone
        # (4%, under the 5% that would justify a second path on its own).
        d = request.__dict__
        aio = d["_aio"]
        if aio is not None and "_url" not in d:
            raw_path: str = aio.raw_path
            if raw_path.startswith("/"):
                if "?" in raw_path or "#" in raw_path:
                    return raw_path.partition("?")[0].partition("#")[0]
                return raw_path
    return urlsplit(request.url).path


def _as_workerd_decodes(headers: CIMultiDictProxy[str]) -> CIMultiDictProxy[str]:
    """Incoming header values as workerd hands them to apps.

    aiohttp decodes header bytes as UTF-8 with ``surrogateescape``, so a byte that is not
    UTF-8 becomes a lone surrogate, which no codec accepts again (``"…".encode()`` raises).
    workerd decodes them as UTF-8 with U+FFFD for such bytes (docs/hosting.md, "Header
    values"): the same here. ASCII values, nearly all of them, are handed on untouched.
    """
    for value in headers.values():
        if not value.isascii():
            break
    else:
        return headers
    fixed: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        if not value.isascii():
            value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        fixed.add(name, value)
    return CIMultiDictProxy(fixed)


# For requests wrapped without a platform (tests): the default limit, the system temp dir.
_DEFAULT_BODIES = RequestBodies()


def request_from_aiohttp(req: web.Request, cf: Mapping[str, Any] | None = None,
                         bodies: RequestBodies | None = None) -> Request:
    """Wrap an incoming aiohttp request; the body is read only if the app asks for it.

    ``bodies`` is the platform's request-body policy (limit, where uploads spill).
    """
    return _IncomingRequest(req, cf, bodies or _DEFAULT_BODIES)


_aiohttp_web: Any = None
# aiohttp response classes that send no Content-Type when the app's response has none
# (aiohttp would announce application/octet-stream; workerd sends no header, e.g. for a
# bytes body or an asset with an unknown extension).
_Untyped: Any = None
_UntypedStream: Any = None


def _load_aiohttp_web() -> Any:
    # aiohttp is imported lazily: app code importing `workers` should not pay for it.
    global _aiohttp_web, _Untyped, _UntypedStream
    from aiohttp import web

    class UntypedStream(web.StreamResponse):
        async def _prepare_headers(self) -> None:
            await super()._prepare_headers()
            self._headers.popall("Content-Type", None)

    class Untyped(web.Response):
        async def _prepare_headers(self) -> None:
            await super()._prepare_headers()
            self._headers.popall("Content-Type", None)

    _Untyped, _UntypedStream = Untyped, UntypedStream
    _aiohttp_web = web
    return web


def _aiohttp_response(resp: Response, body: bytes | None) -> web.Response:
    """``resp`` with ``body`` in memory as an aiohttp response."""
    # Bound once rather than an import statement per request (this runs for every request).
    web = _aiohttp_web or _load_aiohttp_web()
    status = resp.status
    if status in _NULL_BODY_STATUSES:
        body = None
    # aiohttp copies the headers into its own CIMultiDict: hand it ours (a multidict copies
    # another multidict faster than a list of pairs); repeated names are kept either way.
    if "content-type" in resp.headers._h:
        return web.Response(status=status, reason=resp.status_text or None, body=body, headers=resp.headers._h)  # type: ignore[no-any-return]  # aiohttp.web is bound lazily, as Any
    # No type: aiohttp would otherwise announce application/octet-stream.
    out = _Untyped(status=status, reason=resp.status_text or None, body=body, headers=resp.headers._h)
    out.headers.pop("Content-Type", None)
    return out  # type: ignore[no-any-return]  # aiohttp.web is bound lazily, as Any


def buffered_aiohttp_response(resp: Response) -> web.Response | None:
    """``resp`` as an aiohttp response if its body is already in memory, else None.

    A plain function, so the common case (a body given as str or bytes) costs no
    coroutine; ``to_aiohttp_response`` covers the rest (streams, WebSocket upgrades).
    """
    if resp._stream is not None or (resp._body is None and resp._source is not None) or resp.web_socket is not None:
        return None
    return _aiohttp_response(resp, resp._body)


async def to_aiohttp_response(resp: Response, req: web.Request) -> web.StreamResponse:
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
    cls = web.StreamResponse if "content-type" in headers else _UntypedStream
    stream = cls(status=resp.status, reason=resp.status_text or None, headers=headers)
    await stream.prepare(req)
    iterator: AsyncIterator[Any] = aiter(resp._stream)
    async for chunk in iterator:
        await stream.write(chunk.encode() if isinstance(chunk, str) else bytes(chunk))
    await stream.write_eof()
    return stream  # type: ignore[no-any-return]  # aiohttp.web is bound lazily, as Any


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

_UPGRADED: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_NOT_AN_UPGRADE = ('Worker tried to return a WebSocket in a response to a request which did not contain the '
                   'header "Upgrade: websocket".')


def upgraded_websockets() -> dict[Any, Any]:
    """Every open upgraded WebSocket (``web.WebSocketResponse``) → its connection's handler."""
    return {ws: protocol for ws, protocol in list(_UPGRADED.items()) if not ws.closed}


async def _upgrade(resp: Response, req: web.Request) -> web.StreamResponse:
    web = _aiohttp_web or _load_aiohttp_web()
    end = resp.web_socket
    problem = None if req.headers.get("upgrade", "").lower() == "websocket" else _NOT_AN_UPGRADE
    if problem is None:
        problem = end.upgrade_problem()
    if problem is not None:
        return web.Response(status=500, text=f"Internal Server Error: {problem}\n")  # type: ignore[no-any-return]  # aiohttp.web is bound lazily, as Any
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
    return ws  # type: ignore[no-any-return]  # aiohttp.web is bound lazily, as Any
