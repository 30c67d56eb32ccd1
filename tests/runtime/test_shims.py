"""The ``js`` and ``pyodide`` stand-ins as app code imports them (Pyodide's FFI on CPython)."""

from __future__ import annotations

import datetime
import threading
from pathlib import Path
from typing import Any

import pytest

from emulator.jsobject import ConvertedBuffer, ConvertedList, JsObject
from emulator.runtime import shims_path
from emulator.runtime.loader import ensure_import_hooks
from tests.helpers.apps import worker_config, write_files

ensure_import_hooks()

import js  # noqa: E402 - the shims' folder goes on sys.path first
from pyodide.ffi import (  # noqa: E402 - after the sys.path set-up above
    JsArray,
    JsBuffer,
    JsException,
    JsMap,
    JsProxy,
    create_proxy,
    jsnull,
    run_sync,
    to_js,
)


def test_shims_shadow_the_real_sdk() -> None:
    # workers-runtime-sdk is installed in the test environment (for the parity test): the
    # shims must still win, as they do for apps.
    import asgi
    import workers

    assert Path(workers.__file__).is_relative_to(shims_path())
    assert Path(asgi.__file__).is_relative_to(shims_path())
    assert Path(js.__file__).is_relative_to(shims_path())


def test_constructors_take_new_and_fold_keywords_into_the_options() -> None:
    r = js.Response.new("gone", status=410, headers=js.Headers.new([("x-a", "1")]))
    assert r.status == 410 and r.headers.get("x-a") == "1"
    assert js.Response.new("x", to_js({"status": 201}, dict_converter=js.Object.fromEntries)).status == 201
    copied = js.Response.new("other", r)  # new Response(body, response): status and headers copied
    assert copied.status == 410 and copied.headers.get("x-a") == "1"
    assert js.Headers.new({"A": "b"}).get("a") == "b"
    with pytest.raises(JsException, match="cannot be invoked without 'new'"):
        js.Response("x")
    req = js.Request.new("https://example.com/p", method="POST", body="hi")
    assert req.method == "POST" and req.url == "https://example.com/p"
    assert js.Response.redirect("https://x.test/", 301).headers["location"] == "https://x.test/"
    # isinstance() works like JS instanceof
    # The js classes answer isinstance() like JS instanceof (mypy wants real classes).
    assert isinstance(r, js.Response) and isinstance(req, js.Request) and not isinstance("x", js.Response)  # type: ignore[arg-type]  # see the comment above
    assert isinstance(js.URL.new("http://a.test/"), js.URL) and isinstance(js.Date.new(0), js.Date)
    with pytest.raises(JsException) as info:
        js.Response.redirect("/x", 200)
    assert info.value.name == "RangeError"


async def test_js_response_json_and_body_types() -> None:
    resp = js.Response.json({"a": [1, 2]}, status=202)
    assert resp.status == 202 and resp.headers["content-type"] == "application/json"
    assert await resp.json() == {"a": [1, 2]}
    params = js.URLSearchParams.new({"q": "a b", "n": "1"})
    form = js.Response.new(params)
    assert form.headers["content-type"] == "application/x-www-form-urlencoded;charset=UTF-8"
    assert await form.text() == "q=a%20b&n=1"
    # `to_js(bytes).buffer` is an ArrayBuffer, a body Response accepts (12-image-gen).
    assert await js.Response.new(to_js(b"\x89PNG").buffer).bytes() == b"\x89PNG"


def test_url_and_search_params() -> None:
    url = js.URL.new("https://user:pw@Example.com:443/a%20b/c?x=1&y=2#frag")
    assert (url.protocol, url.hostname, url.port, url.host) == ("https:", "example.com", "", "example.com")
    assert (url.pathname, url.search, url.hash) == ("/a%20b/c", "?x=1&y=2", "#frag")
    assert url.origin == "https://example.com" and url.username == "user" and url.password == "pw"
    assert url.searchParams.get("y") == "2" and url.searchParams.get("z") is None
    url.searchParams.set("x", "9")
    assert url.search == "?x=9&y=2" and url.href == "https://user:pw@example.com/a%20b/c?x=9&y=2#frag"
    assert js.URL.new("/rel?q", "http://h.test:8080/base/").href == "http://h.test:8080/rel?q"
    assert str(js.URL.new("http://h.test")) == "http://h.test/"
    with pytest.raises(JsException, match="Invalid URL"):
        js.URL.new("not a url")
    assert js.URL.canParse("https://ok.test/") and not js.URL.canParse("nope")
    params = js.URLSearchParams.new("?a=1&a=2&b=")
    assert list(params.getAll("a")) == ["1", "2"] and params.get("b") == "" and params.size == 3
    params.delete("a")
    assert params.toString() == "b="


def test_object_json_and_their_to_py() -> None:
    obj = js.Object.fromEntries([("x", 1), ("nested", js.Object.fromEntries({"y": 2}))])
    assert isinstance(obj, JsProxy) and obj.x == 1 and obj.nested.y == 2
    assert obj.to_py() == {"x": 1, "nested": {"y": 2}} and type(obj.to_py()) is dict
    parsed = js.JSON.parse('{"a": {"b": [1, {"c": null}]}}')
    assert parsed.a.b[1].c is None and isinstance(parsed.a.b, JsArray)
    assert parsed.to_py() == {"a": {"b": [1, {"c": None}]}}
    assert js.JSON.stringify({"d": js.Date.new(0)}) == '{"d":"1970-01-01T00:00:00.000Z"}'
    assert list(js.Object.keys(obj)) == ["x", "nested"]
    with pytest.raises(JsException) as info:
        js.JSON.parse("{bad")
    assert info.value.name == "SyntaxError"


def test_to_js_follows_pyodide() -> None:
    as_map = to_js({"k": 1})
    assert isinstance(as_map, JsMap) and as_map.get("k") == 1 and as_map.has("k")
    with pytest.raises(AttributeError):
        _ = as_map.k  # type: ignore[attr-defined]  # a Map's entries are not properties
    as_obj = to_js({"k": {"n": [1, 2]}}, dict_converter=js.Object.fromEntries)
    assert as_obj.k.n[1] == 2 and as_obj.to_py() == {"k": {"n": [1, 2]}}
    assert isinstance(to_js([1, 2]), JsArray) and to_js(as_obj) is as_obj
    buf = to_js(b"abc")
    assert isinstance(buf, JsBuffer) and buf.to_bytes() == b"abc" and buf.to_memoryview().tobytes() == b"abc"
    assert buf.to_string() == "abc" and buf.buffer.byteLength == 3  # type: ignore[attr-defined]  # a JS property


def test_converted_values_are_not_js_proxies() -> None:
    # workerd's RPC tests assert this: what the SDK converted is plain Python.
    for value in (JsObject(a=1), ConvertedList([1]), ConvertedBuffer(b"x"), datetime.datetime.now()):
        assert not isinstance(value, JsProxy)


def test_proxies_null_and_errors() -> None:
    calls: list[int] = []
    proxy = create_proxy(lambda n: calls.append(n))
    proxy(3)
    assert calls == [3]
    proxy.destroy()
    with pytest.raises(RuntimeError, match="destroyed"):
        proxy(4)
    assert not jsnull and repr(jsnull) == "jsnull" and jsnull is not None
    err = js.Error.new("boom")
    assert isinstance(err, Exception) and err.name == "Error" and err.message == "boom" and str(err) == "Error: boom"
    assert js.TypeError.new("t").name == "TypeError"


def test_run_sync_outside_the_loop() -> None:
    async def answer() -> int:
        return 42

    box: list[int] = []
    thread = threading.Thread(target=lambda: box.append(run_sync(answer())))
    thread.start()
    thread.join()
    assert box == [42]


async def test_websocket_pair_ends_talk_to_each_other() -> None:
    import asyncio

    pair = js.WebSocketPair.new()
    client, server = pair
    assert list(pair.object_values()) == [client, server]
    with pytest.raises(JsException, match="You must call one of accept"):
        client.send("too early")  # an end sends only once accepted (workerd)
    got: list[Any] = []
    server.addEventListener("message", lambda event: got.append(event.data))
    client.accept()
    client.send("early")  # before the server end is accepted: held back, in order
    await asyncio.sleep(0)
    assert got == []
    server.accept()
    client.send("hi")
    for _ in range(5):
        await asyncio.sleep(0)
    assert got == ["early", "hi"]
    closed: list[int] = []
    client.onclose = lambda event: closed.append(event.code)
    server.close(4000, "bye")
    for _ in range(5):
        await asyncio.sleep(0)
    assert closed == [4000]
    with pytest.raises(JsException, match="after close"):
        server.send("late")


def test_what_cannot_be_emulated_says_so() -> None:
    with pytest.raises(NotImplementedError, match="HTMLRewriter is not emulated"):
        js.HTMLRewriter.new()
    with pytest.raises(NotImplementedError, match=r"^new Number\(\.\.\.\) is not emulated by cf-emulator$"):
        js.Number.new(1)
    with pytest.raises(NotImplementedError, match=r"crypto\.subtle\.digest"):
        js.crypto.subtle.digest  # noqa: B018 - the lookup is what raises
    with pytest.raises(AttributeError, match=r"js\.Nope: cf-emulator provides"):
        js.Nope  # noqa: B018 - the lookup is what raises
    assert len(js.crypto.randomUUID()) == 36


async def test_copied_cloudflare_code_runs(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": """
        from js import Object, JSON, Date, URL, Headers, Response as JsResponse
        from pyodide.ffi import to_js
        from workers import WorkerEntrypoint, Response
        from workers.workflows import NonRetryableError

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                url = URL.new(request.url)
                if url.pathname == "/js":
                    return JsResponse.new("from js", headers=Headers.new([("x-js", "1")]))
                options = to_js({"status": "ok"}, dict_converter=Object.fromEntries)
                return Response(JSON.stringify({"now": Date.now(), "status": options.status,
                                                "q": url.searchParams.get("q"),
                                                "err": NonRetryableError.__name__}),
                                headers={"content-type": "application/json"})
    """})
    client = await serve(worker_config(tmp_path))
    data = await (await client.get("/?q=1")).json()
    # Date.now() reads the platform clock (a FakeClock at 1000 s here).
    assert data == {"now": 1_000_000, "status": "ok", "q": "1", "err": "NonRetryableError"}
    resp = await client.get("/js")
    assert resp.status == 200 and await resp.text() == "from js" and resp.headers["x-js"] == "1"
