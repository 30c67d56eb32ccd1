"""The ``workers`` module's behaviour as app code uses it (its shape is test_sdk_parity's job)."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from emulator.jsobject import ConvertedBuffer, ConvertedList, JsObject
from emulator.runtime.loader import ensure_import_hooks
from tests.helpers.apps import worker_config, write_files

ensure_import_hooks()

import js  # noqa: E402 - after the sys.path set-up above
import workers  # noqa: E402 - after the sys.path set-up above
from pyodide.ffi import JsProxy, jsnull, to_js  # noqa: E402 - after the sys.path set-up above


def test_python_to_rpc_gives_js_values_and_refuses_what_rpc_cannot_carry() -> None:
    value = workers.python_to_rpc({"a": [1, None], "when": datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
                                   "raw": b"\x00"})
    # A JS object's properties are attributes of its proxy (mypy only knows JsProxy's own).
    assert isinstance(value, JsProxy) and value.a[1] is jsnull  # type: ignore[attr-defined]  # see the comment above
    assert value.when.getTime() == 1577836800000 and value.raw.to_bytes() == b"\x00"  # type: ignore[attr-defined]  # see the comment above
    assert workers.python_to_rpc(None) is jsnull
    response = workers.Response("x")
    assert workers.python_to_rpc(response) is response.js_object
    for bad in ((1, 2), bytearray(b"x"), {"nested": (1,)}):
        with pytest.raises(TypeError, match="cannot be sent over RPC"):
            workers.python_to_rpc(bad)

    async def coro() -> None: ...

    awaitable = coro()
    with pytest.raises(TypeError, match="Awaitable"):
        workers.python_to_rpc(awaitable)
    awaitable.close()


def test_python_from_rpc_gives_python_values() -> None:
    raw = js.JSON.parse('{"user": {"id": 1, "tags": ["a"], "gone": null}}')
    value = workers.python_from_rpc(raw)
    assert isinstance(value, JsObject) and not isinstance(value, JsProxy)
    assert value.user.id == 1 and isinstance(value.user.tags, ConvertedList) and value.user.gone is None
    assert workers.python_from_rpc(jsnull) is None
    assert workers.python_from_rpc(js.Date.new(0)) == datetime.datetime.fromtimestamp(0)
    assert isinstance(workers.python_from_rpc(to_js(b"ab")), ConvertedBuffer)
    assert workers.python_from_rpc(workers.python_to_rpc({"k": [1]})) == {"k": [1]}


def test_durable_object_base_and_handler() -> None:
    class Counter(workers.DurableObject):
        pass

    counter = Counter("ctx", "env")
    assert (counter.ctx, counter.env) == ("ctx", "env")

    @workers.handler
    async def on_fetch(request: Any, env: Any) -> Any:
        """doc"""
        return request, env

    assert on_fetch.__name__ == "on_fetch" and on_fetch.__doc__ == "doc" and on_fetch.__wrapped__ is not None  # type: ignore[attr-defined]  # set by functools.wraps


def test_import_from_javascript() -> None:
    with pytest.raises(ImportError, match="Failed to import 'cloudflare:email'"):
        workers.import_from_javascript("cloudflare:email")
    sockets = workers.import_from_javascript("cloudflare:sockets")
    with pytest.raises(NotImplementedError, match="cloudflare:sockets"):
        sockets.connect("example.com:443")
    cf = workers.import_from_javascript("cloudflare:workers")
    assert cf.WorkerEntrypoint is workers.WorkerEntrypoint
    with pytest.raises(RuntimeError, match="only available while app code runs"):
        cf.env  # noqa: B018 - the lookup is what raises


async def test_module_env_raw_env_and_patch_env_in_app_code(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": """
        import workers
        from workers import WorkerEntrypoint, Response, import_from_javascript, patch_env

        AT_IMPORT = workers.env.GREETING  # bindings are reachable at import time

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                raw_env = import_from_javascript("cloudflare:workers").env
                json_var = raw_env.SETTINGS  # a JSON var: a raw JS object there
                with patch_env(GREETING="patched"):
                    inside = (workers.env.GREETING, import_from_javascript("cloudflare:workers").env.GREETING)
                return Response.json({
                    "import": AT_IMPORT, "inside": inside, "after": workers.env.GREETING,
                    "self": self.env.GREETING, "json": json_var.to_py(), "missing": raw_env.NOPE,
                })
    """})
    client = await serve(worker_config(tmp_path, vars={"GREETING": "hi", "SETTINGS": {"a": [1]}}))
    assert await (await client.get("/")).json() == {
        "import": "hi", "inside": ["patched", "patched"], "after": "hi", "self": "hi",
        "json": {"a": [1]}, "missing": None,
    }


async def test_request_body_stream_and_js_object(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": """
        from workers import WorkerEntrypoint, Response

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                if request.url.endswith("/stream"):
                    sizes = []
                    async for chunk in request.body:
                        sizes.append(len(chunk.to_bytes()))
                    try:
                        await request.text()
                    except OSError as exc:
                        used = str(exc)
                    return Response.json({"total": sum(sizes), "chunks": len(sizes) > 1, "used": used,
                                          "body_used": request.body_used})
                if request.url.endswith("/reader"):
                    reader = request.body.getReader()
                    got = b""
                    while True:
                        step = await reader.read()
                        if step.done:
                            break
                        got += step.value.to_bytes()
                    return Response(got)
                js_request = request.js_object
                buffer = await js_request.arrayBuffer()
                return Response.json({"same": js_request is request, "bytes": buffer.to_bytes().decode(),
                                      "no_body": request.body is None if request.method == "GET" else None})
    """})
    client = await serve(worker_config(tmp_path))
    big = b"x" * (300 * 1024)
    data = await (await client.post("/stream", data=big)).json()
    assert data == {"total": len(big), "chunks": True, "used": "Body already used", "body_used": True}
    assert await (await client.post("/reader", data=b"abc")).read() == b"abc"
    js = await (await client.post("/js", data=b"payload")).json()
    assert js == {"same": True, "bytes": "payload", "no_body": None}


async def test_response_sdk_behaviour() -> None:
    r = workers.Response("hi", status=0)
    assert r.status == 200 and repr(r) == "Response(status=200, content_type='text/plain;charset=UTF-8')"
    with pytest.raises(TypeError, match="Unsupported type in Response: dict"):
        workers.Response({"a": 1})
    js_resp = js.Response.new("raw", status=201)
    wrapped = workers.Response(js_resp)
    assert wrapped.status == 201 and await wrapped.text() == "raw"
    with pytest.raises(ValueError, match="Expected no options"):
        workers.Response(js_resp, status=200)
    replaced = workers.Response("a", status=202, headers={"x": "1"}).replace_body("b")
    assert replaced.status == 202 and replaced.headers["x"] == "1" and await replaced.text() == "b"
    with pytest.raises(OSError, match="404 Client Error"):
        workers.Response("nope", status=404).raise_for_status()
    consumed = workers.Response("once")
    await consumed.text()
    with pytest.raises(OSError, match="Body already used"):
        await consumed.text()
    assert bytes(await workers.Response("m").memoryview()) == b"m"
    assert (await workers.Response("b").buffer()).to_bytes() == b"b"


async def test_blob_file_and_formdata() -> None:
    blob = workers.Blob(["a", b"b", workers.Blob("c")], content_type="Text/Plain")
    assert blob.size == 3 and blob.content_type == "text/plain" and await blob.text() == "abc"
    assert await blob.slice(1, 2).bytes() == b"b"
    with pytest.raises(TypeError, match="Don't know how to handle"):
        workers.Blob([object()])
    f = workers.File("data", "a.txt", last_modified=5)
    assert (f.name, f.last_modified, await f.bytes()) == ("a.txt", 5, b"data")
    assert workers.BlobEnding.NATIVE == "native"  # type: ignore[comparison-overlap]  # what the test checks: the str value
    form = workers.FormData({"name": "x"})
    form.append("file", f)
    assert form["name"] == "x" and form["missing"] is None and list(form) == ["name", "file"]
    assert "file" in form and form.get_all("file")[0].name == "a.txt"  # type: ignore[union-attr]  # a File here
    with pytest.raises(TypeError, match="Expected single item"):
        form["name"] = ["a", "b"]
    with pytest.raises(TypeError, match="Expected form_data to be a dict"):
        workers.FormData(42)
