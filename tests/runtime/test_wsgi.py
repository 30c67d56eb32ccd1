"""``workers.wsgi`` serving plain WSGI apps inside a Worker (Django's path in 18-django)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.helpers.apps import worker_config, write_files

WSGI_APP = """
import json
import threading

from workers import WorkerEntrypoint, wsgi

MAIN = threading.get_ident()


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/environ":
        keys = {k: v for k, v in environ.items() if isinstance(v, (str, int, tuple, bool))}
        body = json.dumps({"environ": keys, "env": environ["workers.env"].MESSAGE,
                           "has_input": hasattr(environ["wsgi.input"], "read")}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    if path == "/upload":
        size = 0
        while True:
            chunk = environ["wsgi.input"].read(10_000)  # read lazily, in pieces
            if not chunk:
                break
            size += len(chunk)
        print("read", size, "bytes")
        start_response("201 Created", [("Content-Type", "text/plain"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
        return [str(size).encode()]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])

        def chunks():
            for i in range(3):
                yield f"chunk{i};".encode()

        return chunks()
    if path == "/write":
        write = start_response("200 OK", [])
        write(b"written;")
        return [b"iterated"]
    if path == "/empty":
        start_response("204 No Content", [])
        return []
    if path == "/nostart":
        return [b"x"]
    raise RuntimeError("wsgi boom")


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return await wsgi.fetch(application, request, self.env)
"""


async def test_wsgi_environ_as_the_sdk_builds_it(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": WSGI_APP})
    client = await serve(worker_config(tmp_path, vars={"MESSAGE": "hello"}))
    resp = await client.get("/environ?q=a%20b", headers={"X-Thing": "1", "Content-Type": "text/x"})
    data = await resp.json()
    environ = data["environ"]
    assert environ["REQUEST_METHOD"] == "GET" and environ["SCRIPT_NAME"] == "" and environ["PATH_INFO"] == "/environ"
    assert environ["QUERY_STRING"] == "q=a%20b" and environ["SERVER_NAME"] == "127.0.0.1"
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1" and environ["wsgi.url_scheme"] == "http"
    assert environ["HTTP_X_THING"] == "1" and environ["CONTENT_TYPE"] == "text/x"
    assert environ["wsgi.version"] == [1, 0] and environ["wsgi.run_once"] is False
    assert "CONTENT_LENGTH" not in environ  # only synthesized for a pre-buffered body
    assert data["env"] == "hello" and data["has_input"]


async def test_wsgi_lazy_body_streaming_response_and_errors(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": WSGI_APP})
    client = await serve(worker_config(tmp_path, vars={"MESSAGE": "m"}))
    upload = await client.post("/upload", data=b"z" * 250_000)
    assert upload.status == 201 and upload.reason == "Created" and await upload.text() == "250000"
    assert upload.headers.getall("set-cookie") == ["a=1", "b=2"]
    # The app's print() is its log, although it ran in the WSGI worker thread.
    assert "read 250000 bytes" in client.platform.log.messages(source="app:worker")
    assert await (await client.get("/stream")).text() == "chunk0;chunk1;chunk2;"
    assert await (await client.get("/write")).text() == "written;iterated"
    empty = await client.get("/empty")
    assert empty.status == 204 and await empty.read() == b""
    nostart = await client.get("/nostart")
    assert nostart.status == 500 and "did not call start_response()" in await nostart.text()
    boom = await client.get("/boom")
    assert boom.status == 500 and "RuntimeError: wsgi boom" in await boom.text()


async def test_wsgi_app_can_await_bindings_through_run_sync(tmp_path: Path, serve: Any) -> None:
    # Sync app code waiting on async work (Django ORM over D1 does this with run_sync).
    write_files(tmp_path, {"src/entry.py": """
        import asyncio
        from pyodide.ffi import run_sync
        from workers import WorkerEntrypoint, wsgi

        async def slow_value():
            await asyncio.sleep(0)
            return b"from the loop"

        def application(environ, start_response):
            start_response("200 OK", [])
            return [run_sync(slow_value())]

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                return await wsgi.fetch(application, request, self.env)
    """})
    client = await serve(worker_config(tmp_path))
    assert await (await client.get("/")).text() == "from the loop"
