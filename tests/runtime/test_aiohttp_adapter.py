"""The aiohttp adapter: incoming requests wrapped lazily as the Fetch API ``Request``, app
responses written back through aiohttp."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.runtime.http import Headers, Request, Response


async def test_incoming_request_builds_url_and_cf_lazily_and_behaves_like_a_request() -> None:
    from aiohttp.test_utils import make_mocked_request

    from emulator.runtime.aiohttp_adapter import request_from_aiohttp, request_pathname

    raw = make_mocked_request("POST", "/a%20b/c?q=1&r=2", headers={"Host": "example.test:8787",
                                                                   "X-One": "1"})
    req = request_from_aiohttp(raw, {"colo": "LCL"})
    assert isinstance(req, Request)
    assert request_pathname(req) == "/a%20b/c"
    assert req.url == "http://example.test:8787/a%20b/c?q=1&r=2"
    assert request_pathname(req) == "/a%20b/c"
    assert req.method == "POST" and req.headers.get("x-one") == "1"
    assert req.cf.colo == "LCL"
    req.cf.colo = "SFO"  # the request's own copy: the shared template is untouched
    assert request_from_aiohttp(raw, {"colo": "LCL"}).cf.colo == "LCL"
    # Assignment works as on a plain Request, and later reads see it.
    req.url = "https://other.test/x?y"
    assert req.url == "https://other.test/x?y" and request_pathname(req) == "/x"
    req.cf = {"colo": "AMS"}  # type: ignore[assignment]  # a plain dict, as app code may assign
    assert req.cf == {"colo": "AMS"}
    # A Request built from an incoming one copies the (lazily built) url and cf.
    copy = Request(request_from_aiohttp(raw, {"colo": "LCL"}), method="PUT")
    assert copy.url == "http://example.test:8787/a%20b/c?q=1&r=2" and copy.cf.colo == "LCL"
    assert request_pathname(copy) == "/a%20b/c"
    assert repr(copy) == "Request(method='PUT', url='http://example.test:8787/a%20b/c?q=1&r=2')"


async def test_incoming_request_defaults_and_body_state_are_per_request() -> None:
    from aiohttp.test_utils import make_mocked_request

    from emulator.runtime.aiohttp_adapter import request_from_aiohttp

    raw = make_mocked_request("GET", "/", headers={"Host": "h"})
    first = request_from_aiohttp(raw, None)
    second = request_from_aiohttp(raw, None)
    assert first.redirect == "follow" and not first.body_used and not first.bodyUsed
    assert await first.bytes() == b""
    assert first.body_used and not second.body_used
    first.redirect = "manual"
    assert second.redirect == "follow"
    assert Request(first).redirect == "manual"


async def test_conversion_to_aiohttp_keeps_status_headers_and_bodies() -> None:
    from aiohttp.test_utils import make_mocked_request

    from emulator.runtime.aiohttp_adapter import buffered_aiohttp_response, to_aiohttp_response
    from emulator.runtime.http import _BodySource

    raw = make_mocked_request("GET", "/", headers={"Host": "h"})
    app_response = Response("hi", status=201, status_text="Made", headers=[("x-a", "1"), ("X-A", "2")])
    out = buffered_aiohttp_response(app_response)
    assert out is not None
    assert (out.status, out.reason, out.body) == (201, "Made", b"hi")
    assert out.headers.getall("x-a") == ["1", "2"]
    assert out.headers["content-type"] == "text/plain;charset=UTF-8"
    # aiohttp's copy: what the server adds never reaches the app's Response.
    out.headers["server"] = "x"
    assert "server" not in app_response.headers
    # An empty body announces no content type (aiohttp would say application/octet-stream).
    empty = await to_aiohttp_response(Response(None, status=204), raw)
    assert isinstance(empty, web.Response)
    assert "Content-Type" not in empty.headers and empty.body is None
    # A body still to be read (a request's, handed on) is not buffered yet: it is read here.
    async def read() -> bytes:
        return b"from the client"

    relayed = Response(_BodySource(read))
    assert buffered_aiohttp_response(relayed) is None
    converted = await to_aiohttp_response(relayed, raw)
    assert isinstance(converted, web.Response) and converted.body == b"from the client"


_path_chars = st.sampled_from("abz09-._~%2F/?#;=&+@:!$'()*,")
_targets = st.lists(_path_chars, max_size=16).map(lambda chars: "/" + "".join(chars))
_hosts = st.from_regex(r"\A[a-z0-9]([a-z0-9.-]{0,12}[a-z0-9])?(:[0-9]{1,5})?\Z")


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(_targets, _hosts)
def test_incoming_pathname_agrees_with_its_reference(target: str, host: str) -> None:
    """``request_pathname`` reads an incoming request's path from the request line; its
    reference parses the URL (``urlsplit(request.url).path``): the same for a valid Host."""
    from urllib.parse import urlsplit

    from aiohttp.test_utils import make_mocked_request

    from emulator.runtime.aiohttp_adapter import request_from_aiohttp, request_pathname

    def incoming() -> Request:
        return request_from_aiohttp(make_mocked_request("GET", target, headers={"Host": host}), None)

    expected = urlsplit(incoming().url).path  # builds the URL: the general path from here on
    fresh = incoming()
    # The aiohttp-backed request class adds pathname() (the runtime's fast path).
    assert request_pathname(fresh) == fresh.pathname() == expected  # type: ignore[attr-defined]  # see the comment above


def test_incoming_pathname_does_not_depend_on_the_host_header() -> None:
    from aiohttp.test_utils import make_mocked_request

    from emulator.runtime.aiohttp_adapter import request_from_aiohttp, request_pathname

    for host in ("[", "a?b", "a/b", "a#b"):  # no valid URL authority
        req = request_from_aiohttp(make_mocked_request("GET", "/x/y?z", headers={"Host": host}), None)
        assert request_pathname(req) == "/x/y", host


def test_incoming_headers_are_one_wrapper_that_copies_on_write() -> None:
    from aiohttp.test_utils import make_mocked_request

    from emulator.runtime.aiohttp_adapter import request_from_aiohttp

    raw = make_mocked_request("GET", "/", headers={"Host": "h", "X-One": "1"})
    req = request_from_aiohttp(raw, None)
    assert req.headers is req.headers and req.headers["x-one"] == "1"
    req.headers.set("x-two", "2")  # the app's change stays in the app's copy
    assert req.headers.get("x-two") == "2" and "X-Two" not in raw.headers
    clone = req.clone()
    assert clone.headers.get("x-two") == "2" and clone.headers is not req.headers
    req.headers = Headers({"x-three": "3"})
    assert list(req.headers) == ["x-three"]
    assert request_from_aiohttp(raw, None).headers.get("x-two") is None


async def test_incoming_header_bytes_that_are_not_utf8_read_as_workerd_reads_them(aiohttp_server: Any) -> None:
    import asyncio

    from aiohttp import web

    from emulator.runtime.aiohttp_adapter import request_from_aiohttp

    seen: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.Response:
        seen["aiohttp"] = request.headers["authorization"]
        headers = request_from_aiohttp(request).headers
        seen.update({name: headers.get(name) for name in ("authorization", "x-utf8", "x-plain")})
        seen["copied"] = headers._h is not request.headers
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", handler)
    server = await aiohttp_server(app)
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer \xff\xfe\r\nX-Utf8: \xc3\xa9\r\n"
                 b"X-Plain: a\r\nConnection: close\r\n\r\n")
    await writer.drain()
    assert (await reader.read()).startswith(b"HTTP/1.1 200")
    writer.close()
    # aiohttp hands undecodable bytes on as lone surrogates (surrogateescape), which no codec
    # accepts again; workerd decodes them as UTF-8 with U+FFFD: so does the Request.
    assert seen["aiohttp"] == "Bearer \udcff\udcfe"
    assert seen["authorization"] == "Bearer \ufffd\ufffd" and seen["authorization"].encode()
    assert seen["x-utf8"] == "é" and seen["x-plain"] == "a" and seen["copied"]


async def test_ascii_headers_are_wrapped_without_a_copy() -> None:
    from aiohttp.test_utils import make_mocked_request

    from emulator.runtime.aiohttp_adapter import request_from_aiohttp

    plain = make_mocked_request("GET", "/", headers={"Host": "h", "X-Plain": "a"})
    assert request_from_aiohttp(plain).headers._h is plain.headers
