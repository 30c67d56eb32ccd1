"""``workers.asgi`` (and the top-level ``asgi``) serving plain ASGI apps inside a Worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.helpers.apps import worker_config, write_files

ASGI_APP = """
import json

import asgi  # the older spelling; the same module as workers.asgi
from workers import WorkerEntrypoint

EVENTS = []


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                scope["state"]["ready"] = "yes"
                EVENTS.append("startup")
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                EVENTS.append("shutdown")
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    if path == "/scope":
        body = json.dumps({
            "keys": sorted(scope), "method": scope["method"], "path": scope["path"],
            "raw_path": scope["raw_path"].decode(), "query": scope["query_string"].decode(),
            "scheme": scope["scheme"], "headers": [[k.decode(), v.decode()] for k, v in scope["headers"]
                                                   if k.startswith(b"x-")],
            "env": scope["env"].MESSAGE, "state": scope["state"], "asgi": scope["asgi"],
            "events": EVENTS,
        }).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"set-cookie", b"a=1"),
                                (b"set-cookie", b"b=2")]})
        await send({"type": "http.response.body", "body": body})
    elif path == "/echo":
        chunks = []
        while True:
            message = await receive()
            chunks.append(message["body"])
            if not message["more_body"]:
                break
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"".join(chunks)})
    elif path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for i in range(3):
            await send({"type": "http.response.body", "body": f"part{i};".encode(), "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    elif path == "/empty":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/silent":
        return
    else:
        raise ValueError("boom")


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return await asgi.fetch(app, request.js_object, self.env)
"""


async def test_asgi_scope_lifespan_and_bodies(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": ASGI_APP})
    client = await serve(worker_config(tmp_path, vars={"MESSAGE": "My env var"}))
    resp = await client.get("/scope?q=1&r=a%20b", headers={"X-One": "1"})
    data = await resp.json()
    # Exactly the SDK's scope keys: no client, server or root_path.
    assert data["keys"] == ["asgi", "env", "headers", "http_version", "method", "path", "query_string",
                            "raw_path", "scheme", "state", "type"]
    assert data["method"] == "GET" and data["path"] == "/scope" and data["query"] == "q=1&r=a%20b"
    assert data["scheme"] == "http" and data["headers"] == [["x-one", "1"]]
    assert data["env"] == "My env var" and data["state"] == {"ready": "yes"}
    assert data["asgi"] == {"spec_version": "2.0", "version": "3.0"}
    assert data["events"] == ["startup"]  # this request's startup; its shutdown comes after
    assert resp.headers.getall("set-cookie") == ["a=1", "b=2"]
    # The next request saw the previous one's shutdown: one lifespan cycle per request.
    again = await (await client.get("/scope")).json()
    assert again["events"] == ["startup", "shutdown", "startup"]


async def test_asgi_request_body_streaming_response_and_errors(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": ASGI_APP})
    client = await serve(worker_config(tmp_path, vars={"MESSAGE": "m"}))
    payload = b"y" * 200_000
    echo = await client.post("/echo", data=payload)
    assert echo.status == 201 and await echo.read() == payload
    stream = await client.get("/stream")
    assert await stream.text() == "part0;part1;part2;"
    empty = await client.get("/empty")
    assert empty.status == 204 and await empty.read() == b""
    silent = await client.get("/silent")
    assert silent.status == 500 and "The application did not generate a response" in await silent.text()
    failing = await client.get("/fails")
    assert failing.status == 500 and "ValueError: boom" in await failing.text()


async def test_asgi_percent_decoded_path_and_entrypoint(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": """
        from workers import asgi

        async def app(scope, receive, send):
            if scope["type"] == "lifespan":
                raise RuntimeError("no lifespan here")  # served anyway, as the SDK does
            await send({"type": "http.response.start", "status": 200, "headers": []})
            body = (scope["path"] + "|" + scope["raw_path"].decode()).encode()
            await send({"type": "http.response.body", "body": body})

        Default = asgi.entrypoint(app)
    """})
    client = await serve(worker_config(tmp_path))
    assert await (await client.get("/a%20b/c")).text() == "/a b/c|/a%20b/c"


async def test_asgi_websocket(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": """
        from workers import asgi

        async def app(scope, receive, send):
            if scope["type"] == "lifespan":
                return
            assert scope["type"] == "websocket"
            assert (await receive())["type"] == "websocket.connect"
            await send({"type": "websocket.accept"})
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("text") == "bye":
                    await send({"type": "websocket.close", "code": 4001})
                    return
                text = message.get("text") or message["bytes"].decode()
                await send({"type": "websocket.send", "text": "echo:" + text})

        Default = asgi.entrypoint(app)
    """})
    client = await serve(worker_config(tmp_path))
    ws = await client.ws_connect("/ws")
    await ws.send_str("hi")
    assert (await ws.receive()).data == "echo:hi"
    await ws.send_bytes(b"raw")
    assert (await ws.receive()).data == "echo:raw"
    await ws.send_str("bye")
    closing = await ws.receive()
    assert ws.closed or closing.data == 4001
    assert ws.close_code == 4001
