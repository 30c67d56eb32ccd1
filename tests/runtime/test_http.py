"""Request / Response / Headers / FormData shapes of the workers shim."""

from __future__ import annotations

import http
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.runtime.http import (
    Blob,
    File,
    FormData,
    Headers,
    Request,
    Response,
    parse_form,
)


async def test_response_defaults_follow_workerd() -> None:
    assert Response("x").headers.get("content-type") == "text/plain;charset=UTF-8"
    assert Response(b"x").headers.get("content-type") is None
    assert Response(None).status == 200
    r = Response.json({"a": [1, 2]}, status=418, headers={"x": "y"})
    assert r.headers["content-type"] == "application/json"
    assert r.status == 418 and r.headers["X"] == "y"
    assert await r.json() == {"a": [1, 2]}
    assert await Response("héllo").text() == "héllo"
    assert await Response("abc").bytes() == b"abc"
    explicit = Response("<p>", headers={"Content-Type": "text/html"})
    assert explicit.headers.get_all("content-type") == ["text/html"]


def test_response_errors() -> None:
    with pytest.raises(TypeError, match="Response.json"):
        Response({"a": 1})  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Response.redirect("/x", 200)
    with pytest.raises(TypeError):
        Response("body", status=204)
    assert Response.redirect("/x").status == 302
    assert Response.redirect("/x", 308).headers["location"] == "/x"


def test_headers_case_insensitive_and_multi() -> None:
    h = Headers([("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("X-One", "1")])
    assert h.get("x-one") == "1" and h["X-ONE"] == "1"
    assert h.get("SET-COOKIE") == "a=1, b=2"
    assert h.getSetCookie() == ["a=1", "b=2"]
    assert "x-one" in h and h.has("X-One") and "nope" not in h
    assert h.get("nope") is None and h.get("nope", "d") == "d"
    assert h["nope"] is None  # HTTPMessage semantics, as the SDK's headers
    h.set("x-one", "2")
    h.append("x-two", "3")
    del h["set-cookie"]
    assert dict(h) == {"x-one": "2", "x-two": "3"}


async def test_request_shapes_and_clone() -> None:
    r = Request("https://example.com/a?b=1", method="post", headers={"content-type": "application/json"},
                body='{"k": 1}')
    assert r.method == http.HTTPMethod.POST and r.method == "POST"
    assert r.url == "https://example.com/a?b=1"
    c = r.clone()
    assert await r.json() == {"k": 1}
    assert await c.text() == '{"k": 1}'
    with pytest.raises(TypeError, match="GET or HEAD"):
        Request("https://x/", body="nope")
    copy = Request(r, method="PUT")
    assert copy.method == "PUT" and copy.url == r.url and await copy.json() == {"k": 1}


async def test_form_data_round_trip() -> None:
    form = FormData()
    form.append("name", "Ada")
    form.append("tags", "a")
    form.append("tags", "b")
    form.append("doc", File(b"\x00\x01binary\r\n--not-a-boundary", "doc.bin", "application/octet-stream"))
    resp = Response(form)
    assert resp.headers["content-type"].startswith("multipart/form-data; boundary=")
    parsed = await resp.form_data()
    assert parsed.get("name") == "Ada"
    assert parsed.get_all("tags") == ["a", "b"]
    doc = parsed["doc"]
    assert isinstance(doc, File) and doc.name == "doc.bin"
    assert await doc.bytes() == b"\x00\x01binary\r\n--not-a-boundary"
    assert await doc.arrayBuffer() == await doc.bytes()
    urlencoded = await parse_form(b"a=1&b=x+y&a=2", "application/x-www-form-urlencoded")
    assert urlencoded.get_all("a") == ["1", "2"] and urlencoded.get("b") == "x y"
    with pytest.raises(TypeError, match="FormData"):
        await parse_form(b"{}", "application/json")


async def test_incoming_request_builds_url_and_cf_lazily_and_behaves_like_a_request() -> None:
    from aiohttp.test_utils import make_mocked_request

    from emulator.runtime.http import request_from_aiohttp, request_pathname

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
    req.cf = {"colo": "AMS"}
    assert req.cf == {"colo": "AMS"}
    # A Request built from an incoming one copies the (lazily built) url and cf.
    copy = Request(request_from_aiohttp(raw, {"colo": "LCL"}), method="PUT")
    assert copy.url == "http://example.test:8787/a%20b/c?q=1&r=2" and copy.cf.colo == "LCL"
    assert request_pathname(copy) == "/a%20b/c"
    assert repr(copy) == "Request(method='PUT', url='http://example.test:8787/a%20b/c?q=1&r=2')"


async def test_incoming_request_defaults_and_body_state_are_per_request() -> None:
    from aiohttp.test_utils import make_mocked_request

    from emulator.runtime.http import request_from_aiohttp

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

    from emulator.runtime.http import (
        _BodySource,
        buffered_aiohttp_response,
        to_aiohttp_response,
    )

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
    assert "Content-Type" not in empty.headers and empty.body is None
    # A body still to be read (a request's, handed on) is not buffered yet: it is read here.
    async def read() -> bytes:
        return b"from the client"

    relayed = Response(_BodySource(read))  # type: ignore[arg-type]
    assert buffered_aiohttp_response(relayed) is None
    converted = await to_aiohttp_response(relayed, raw)
    assert converted.body == b"from the client"


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

    from emulator.runtime.http import request_from_aiohttp, request_pathname

    def incoming() -> Request:
        return request_from_aiohttp(make_mocked_request("GET", target, headers={"Host": host}), None)

    expected = urlsplit(incoming().url).path  # builds the URL: the general path from here on
    fresh = incoming()
    assert request_pathname(fresh) == fresh.pathname() == expected


def test_incoming_pathname_does_not_depend_on_the_host_header() -> None:
    from aiohttp.test_utils import make_mocked_request

    from emulator.runtime.http import request_from_aiohttp, request_pathname

    for host in ("[", "a?b", "a/b", "a#b"):  # no valid URL authority
        req = request_from_aiohttp(make_mocked_request("GET", "/x/y?z", headers={"Host": host}), None)
        assert request_pathname(req) == "/x/y", host


async def test_text_response_shapes_match_the_general_constructor() -> None:
    # `Response("text")` builds what the general constructor builds.
    plain = Response("hé")
    general = Response("hé", headers=Headers())
    for response in (plain, general):
        assert response.headers.raw_items() == [("content-type", "text/plain;charset=UTF-8")]
        assert (response.status, response.status_text, response.url, response.web_socket) == (200, "", "", None)
        assert not response.body_used
    assert await plain.bytes() == await general.bytes() == "hé".encode()
    assert plain.body_used
    plain.headers.set("x-extra", "1")  # the response owns its headers
    assert Response("other").headers.get("x-extra") is None
    with pytest.raises(TypeError, match="null body status 204"):
        Response("text", status=204)
    with pytest.raises(ValueError, match="range 200 to 599"):
        Response("text", status=600)
    assert Response("teapot", status=418, status_text="I'm a teapot").statusText == "I'm a teapot"


def test_incoming_headers_are_one_wrapper_that_copies_on_write() -> None:
    from aiohttp.test_utils import make_mocked_request

    from emulator.runtime.http import request_from_aiohttp

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


async def test_a_disk_backed_file_keeps_the_file_api_and_is_streamed_on(tmp_path: Path) -> None:
    from emulator.runtime.body import FilePart, RequestBodies, SpillFile

    bodies = RequestBodies(spill_dir=tmp_path)
    spill = SpillFile(bodies)
    data = bytes(range(256)) * 8192  # 2 MiB
    await spill.write(data)
    upload = File._from_part(FilePart(spill, "big.bin", "application/x-big"))
    assert (upload.size, upload.name, upload.type) == (len(data), "big.bin", "application/x-big")
    assert await upload.bytes() == data and await upload.arrayBuffer() == data
    assert (await upload.text())[:3] == "\x00\x01\x02"
    chunks = [c async for c in upload.stream()]
    assert len(chunks) > 1 and b"".join(chunks) == data
    # As a response body it is streamed from disk, not loaded into the Response.
    resp = Response(upload)
    assert resp._body is None and await resp.bytes() == data
    # Re-sent in a form: the encoding streams it too, and parses back to the same bytes.
    form = FormData()
    form.append("f", upload)
    form.append("g", Blob([b"small"], "text/plain"), "g.txt")
    outgoing = Request("https://x/", method="POST", body=form)
    assert outgoing._body is None
    parsed = await Request("https://x/", method="POST", body=await outgoing.bytes(),
                           headers=outgoing.headers).form_data()
    assert await parsed["f"].bytes() == data and await parsed["g"].text() == "small"
    assert [c async for c in Blob(b"mem").stream()] == [b"mem"]
    spill.close()


async def test_form_data_of_an_in_memory_body_parses_like_an_upload() -> None:
    body = (b'--b\r\nContent-Disposition: form-data; name="t"\r\n\r\nv\r\n'
            b'--b\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\n'
            b"hi\r\n--b--\r\n")
    form = await Request("https://x/", method="POST", body=body,
                         headers={"content-type": "multipart/form-data; boundary=b"}).form_data()
    assert form.get("t") == "v" and await form["f"].text() == "hi" and form["f"].type == "text/plain"
    with pytest.raises(TypeError, match="^Failed to parse body as FormData: "):
        await Request("https://x/", method="POST", body=body[:-8],
                      headers={"content-type": "multipart/form-data; boundary=b"}).form_data()


async def test_incoming_header_bytes_that_are_not_utf8_read_as_workerd_reads_them(aiohttp_server: Any) -> None:
    import asyncio

    from aiohttp import web

    from emulator.runtime.http import request_from_aiohttp

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

    from emulator.runtime.http import request_from_aiohttp

    plain = make_mocked_request("GET", "/", headers={"Host": "h", "X-Plain": "a"})
    assert request_from_aiohttp(plain).headers._h is plain.headers
