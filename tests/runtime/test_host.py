"""``BaseHost.handle``: the edge's request body limit (413) and the lifetime of spilled uploads."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator

from aiohttp import FormData as ClientForm

from emulator.clock import FakeClock
from emulator.platform import Platform
from emulator.runtime.body import TOO_LARGE_HTML
from tests.helpers.apps import worker_config, write_files

UPLOAD = """
import asyncio
from workers import WorkerEntrypoint, Response

gate = asyncio.Event()
seen = []

class Default(WorkerEntrypoint):
    async def fetch(self, request, env, ctx):
        path = request.url.rsplit("/", 1)[-1].split("?")[0]
        print("called", path)
        if path == "open":
            gate.set()
            return Response("opened")
        if path == "ignore":
            return Response("not read", status=201)
        if path == "text":
            return Response(str(len(await request.text())))
        try:
            form = await request.form_data()
        except TypeError as exc:
            # An app that turns a failed read into its own answer: the edge's 413 still wins.
            return Response.json({"error": str(exc)}, status=400)
        upload = form.get("file")
        if path == "later":
            async def read_later():
                await gate.wait()
                seen.append(len(await upload.bytes()))
                print("read later", seen[-1])
            ctx.waitUntil(read_later())
        chunks = [len(c) async for c in upload.stream()]
        return Response.json({"size": upload.size, "name": upload.name, "type": upload.type,
                              "streamed": sum(chunks), "field": form.get("field")})
"""


async def serve_upload(tmp_path: Path, serve: Any, limit: int | None = None) -> Any:
    write_files(tmp_path, {"src/entry.py": UPLOAD})
    config = worker_config(tmp_path)
    platform = Platform([config], tmp_path / "state", clock=FakeClock(), request_body_limit=limit)
    return await serve(config, platform=platform)


def upload_form(size: int) -> ClientForm:
    form = ClientForm()
    form.add_field("field", "v")
    form.add_field("file", b"\x07" * size, filename="big.bin", content_type="application/x-big")
    return form


async def chunked(data: bytes, piece: int = 1 << 16) -> AsyncIterator[bytes]:
    for i in range(0, len(data), piece):
        yield data[i:i + piece]


def called(client: Any) -> list[str]:
    return [m for m in client.platform.log.messages("info", "app:worker") if m.startswith("called")]


async def test_an_upload_within_the_limit_reaches_the_app_and_its_spill_is_freed(tmp_path: Path, serve: Any) -> None:
    client = await serve_upload(tmp_path, serve)
    resp = await client.post("/up", data=upload_form(3 << 20))
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {"size": 3 << 20, "name": "big.bin", "type": "application/x-big",
                                 "streamed": 3 << 20, "field": "v"}
    counters = client.platform.request_bodies.counters
    assert counters.spilled_parts == 1 and counters.open_spill_files == 0 and counters.rejected == 0


async def test_a_declared_length_over_the_limit_is_413_before_the_app_runs(tmp_path: Path, serve: Any) -> None:
    client = await serve_upload(tmp_path, serve, limit=100_000)
    resp = await client.post("/up", data=b"x" * 100_001, headers={"content-type": "application/octet-stream"})
    assert resp.status == 413 and resp.reason == "Request Entity Too Large"
    assert resp.headers["content-type"] == "text/html" and await resp.text() == TOO_LARGE_HTML
    assert called(client) == []
    assert client.platform.request_bodies.counters.rejected == 1
    warning = client.platform.log.messages("warn", "app:worker")[-1]
    assert "declares 100001 bytes" in warning and "--request-body-limit" in warning
    # At the limit exactly: the app's answer.
    resp = await client.post("/text", data=b"x" * 100_000, headers={"content-type": "application/octet-stream"})
    assert resp.status == 200 and await resp.text() == "100000"


async def test_a_chunked_upload_over_the_limit_is_413_whatever_the_app_answers(tmp_path: Path, serve: Any) -> None:
    limit = 1 << 20
    client = await serve_upload(tmp_path, serve, limit=limit)
    body = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'
            + b"\x07" * (8 << 20) + b"\r\n--b--\r\n")
    resp = await client.post("/up", data=chunked(body), headers={"content-type": "multipart/form-data; boundary=b"})
    assert resp.status == 413 and await resp.text() == TOO_LARGE_HTML
    assert called(client) == ["called up"]  # the app ran (no length was declared) ...
    counters = client.platform.request_bodies.counters
    # ... and the read stopped soon after the limit: no 8 MB in memory, no spill file left.
    assert counters.rejected == 1 and limit < counters.peak_received_at_rejection < limit + (1 << 20)
    assert counters.peak_buffered <= limit and counters.open_spill_files == 0
    # A whole-body read over the limit is refused the same way.
    resp = await client.post("/text", data=chunked(b"t" * (3 << 20)))
    assert resp.status == 413 and counters.rejected == 2


async def test_a_body_the_app_never_reads_gets_the_apps_answer(tmp_path: Path, serve: Any) -> None:
    # Without a declared length nothing is counted unless read: the app's answer stands.
    client = await serve_upload(tmp_path, serve, limit=1000)
    resp = await client.post("/ignore", data=chunked(b"i" * 50_000, 1000))
    assert resp.status == 201 and await resp.text() == "not read"


async def test_spilled_files_stay_readable_by_wait_until_work(tmp_path: Path, serve: Any) -> None:
    client = await serve_upload(tmp_path, serve)
    counters = client.platform.request_bodies.counters
    resp = await client.post("/later", data=upload_form(2 << 20))
    assert resp.status == 200
    # The response is sent; the waitUntil task has not read the file yet: it is kept.
    assert counters.open_spill_files == 1
    assert (await client.get("/open")).status == 200
    await client.app_host.wait_background()
    assert "read later 2097152" in client.platform.log.messages("info", "app:worker")
    assert counters.open_spill_files == 0


async def test_expect_100_continue_gets_the_go_ahead(tmp_path: Path, serve: Any) -> None:
    client = await serve_upload(tmp_path, serve)
    host, port = client.server.host, client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"POST /text HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
                 b"Connection: close\r\n\r\n")
    await writer.drain()
    assert await reader.readline() == b"HTTP/1.1 100 Continue\r\n"
    writer.write(b"hello")
    await writer.drain()
    rest = await reader.read()
    writer.close()
    assert b"200 OK" in rest and rest.endswith(b"5")
