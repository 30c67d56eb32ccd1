"""Request / Response / Headers / FormData shapes of the workers shim."""

from __future__ import annotations

import http
from pathlib import Path

import pytest

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
    with pytest.raises(TypeError, match=r"Response\.json"):
        Response({"a": 1})
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
    with pytest.raises(TypeError, match=r"^Failed to parse body as FormData: "):
        await Request("https://x/", method="POST", body=body[:-8],
                      headers={"content-type": "multipart/form-data; boundary=b"}).form_data()
