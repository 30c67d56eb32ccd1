"""Request bodies (``emulator.runtime.body``): streamed multipart parsing, spill files, the limit."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.runtime.body import (
    READ_CHUNK,
    WRITE_BATCH,
    FilePart,
    NetworkBody,
    RequestBodies,
    RequestBodyTooLarge,
    SpillClosedError,
    SpillFile,
    _memory_stream,
    parse_multipart_bytes,
    read_multipart,
)
from emulator.runtime.http import File, FormData

BOUNDARY = "----fuzzboundary0123"
CTYPE = f"multipart/form-data; boundary={BOUNDARY}"


def multipart(*parts: tuple[str, bytes]) -> bytes:
    """A body from (headers, payload) pairs, written by hand so tests control every byte."""
    out = b""
    for headers, payload in parts:
        out += f"--{BOUNDARY}\r\n{headers}\r\n\r\n".encode() + payload + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def field(name: str, value: str) -> tuple[str, bytes]:
    return f'Content-Disposition: form-data; name="{name}"', value.encode()


def file(name: str, data: bytes, filename: str = "f.bin", ctype: str = "application/x-test") -> tuple[str, bytes]:
    return f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\nContent-Type: {ctype}', data


def policy(tmp_path: Path, **kw: Any) -> RequestBodies:
    kw.setdefault("spill_threshold", 4096)
    kw.setdefault("memory_budget", 16384)
    kw.setdefault("max_text_field", 1024)
    return RequestBodies(spill_dir=tmp_path / "spill", **kw)


async def value_of(value: str | FilePart) -> Any:
    if isinstance(value, str):
        return value
    data = value.data if isinstance(value.data, bytes) else await value.data.read_all()
    return (value.filename, value.content_type, data)


# --- parsing bodies in memory ---------------------------------------------------------------

async def test_fields_and_files_keep_their_order_and_bytes() -> None:
    body = multipart(field("a", "1"), file("doc", b"\x00\r\n--not-the-boundary\r\n"), field("a", "héllo"),
                     file("pic", b"", filename=""), field("empty", ""))
    entries = await parse_multipart_bytes(body, CTYPE)
    assert [name for name, _ in entries] == ["a", "doc", "a", "pic", "empty"]
    assert [await value_of(v) for _, v in entries] == [
        "1", ("f.bin", "application/x-test", b"\x00\r\n--not-the-boundary\r\n"), "héllo",
        ("", "application/x-test", b""), ""]


async def test_a_file_part_without_content_type_is_octet_stream() -> None:
    body = multipart(('Content-Disposition: form-data; name="f"; filename="x"', b"data"))
    ((_, part),) = await parse_multipart_bytes(body, CTYPE)
    assert isinstance(part, FilePart) and part.content_type == "application/octet-stream"


MALFORMED = {
    "no boundary parameter": (b"--x\r\n", "multipart/form-data"),
    "boundary over 70 characters": (b"", "multipart/form-data; boundary=" + "b" * 71),
    "empty body": (b"", CTYPE),
    "preamble only": (b"just some text\r\nand more\r\n", CTYPE),
    "no closing boundary": (multipart(field("a", "1"))[:-len(f"--{BOUNDARY}--\r\n") - 2], CTYPE),
    "truncated inside a part": (multipart(file("f", b"x" * 5000))[:3000], CTYPE),
    "part without a name": (multipart(('Content-Disposition: form-data; filename="x"', b"1")), CTYPE),
    "part without Content-Disposition": (multipart(("Content-Type: text/plain", b"1")), CTYPE),
    "nested multipart": (multipart(('Content-Disposition: form-data; name="n"\r\n'
                                    "Content-Type: multipart/mixed; boundary=inner", b"--inner--")), CTYPE),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_malformed_bodies_raise_the_runtimes_type_error(case: str) -> None:
    body, ctype = MALFORMED[case]
    with pytest.raises(TypeError, match=r"^Failed to parse body as FormData: "):
        await parse_multipart_bytes(body, ctype)


async def test_a_text_field_over_the_cap_is_refused_naming_it(tmp_path: Path) -> None:
    body = multipart(field("big", "x" * 1025))
    with pytest.raises(TypeError, match='text field "big" is larger than 1024 bytes'):
        await read_multipart(_memory_stream(body), CTYPE, policy(tmp_path), [])
    entries = await read_multipart(_memory_stream(multipart(field("ok", "x" * 1024))), CTYPE, policy(tmp_path), [])
    assert entries == [("ok", "x" * 1024)]


# --- spilling -------------------------------------------------------------------------------

async def test_parts_over_the_threshold_spill_and_the_rest_stay_in_memory(tmp_path: Path) -> None:
    bodies = policy(tmp_path)
    big, edge = bytes(range(256)) * 40, b"e" * 4096  # 10240 bytes (spills), exactly the threshold (stays)
    spills: list[SpillFile] = []
    entries = await read_multipart(_memory_stream(multipart(field("t", "1"), file("big", big), file("edge", edge))),
                                   CTYPE, bodies, spills)
    kinds = {name: type(v.data).__name__ for name, v in entries if isinstance(v, FilePart)}
    assert kinds == {"big": "SpillFile", "edge": "bytes"}
    assert [await value_of(v) for _, v in entries] == ["1", ("f.bin", "application/x-test", big),
                                                       ("f.bin", "application/x-test", edge)]
    assert len(spills) == 1 and spills[0].size == len(big)
    c = bodies.counters
    assert (c.spilled_parts, c.spilled_bytes, c.open_spill_files) == (1, len(big), 1)
    # The spill file has no name in the spill directory (O_TMPFILE, or unlinked at once).
    assert list((tmp_path / "spill").iterdir()) == []
    spills[0].close()
    assert c.open_spill_files == 0


async def test_the_memory_budget_spills_later_small_parts(tmp_path: Path) -> None:
    bodies = policy(tmp_path)  # threshold 4096, budget 16384
    parts = [file(f"f{i}", bytes([i]) * 4000) for i in range(5)]
    spills: list[SpillFile] = []
    entries = await read_multipart(_memory_stream(multipart(*parts)), CTYPE, bodies, spills)
    kinds = [type(v.data).__name__ for _, v in entries if isinstance(v, FilePart)]
    assert kinds == ["bytes"] * 4 + ["SpillFile"]
    assert await spills[0].read_all() == bytes([4]) * 4000
    for spill in spills:
        spill.close()


async def test_a_body_in_memory_never_spills(tmp_path: Path) -> None:
    entries = await parse_multipart_bytes(multipart(file("big", b"b" * 100_000)), CTYPE)
    assert isinstance(entries[0][1], FilePart) and entries[0][1].data == b"b" * 100_000


async def test_a_parse_error_closes_what_was_spilled(tmp_path: Path) -> None:
    bodies = policy(tmp_path)
    body = multipart(file("big", b"x" * 20_000), field("a", "1"))[:-30]
    with pytest.raises(TypeError, match="Failed to parse body as FormData"):
        await read_multipart(_memory_stream(body), CTYPE, bodies, [])
    assert bodies.counters.spilled_parts == 1 and bodies.counters.open_spill_files == 0


async def test_spill_file_reads_ranges_chunks_and_refuses_after_close(tmp_path: Path) -> None:
    bodies = policy(tmp_path)
    spill = SpillFile(bodies)
    data = bytes(range(256)) * 5000  # 1.28 MB: written through the worker thread
    await spill.write(data[:1000])
    await spill.write(data[1000:])
    assert spill.size == len(data) and spill.read_range(255, 3) == bytes([255, 0, 1])
    assert spill.read_range(len(data) - 2, 100) == data[-2:]
    assert await spill.read_all() == data
    assert b"".join([c async for c in spill.chunks(100_000)]) == data
    as_file = File._from_part(FilePart(spill, "x.bin", "application/octet-stream"))
    assert as_file.size == len(data) and await as_file.bytes() == data
    spill.close()
    spill.close()  # idempotent
    assert bodies.counters.open_spill_files == 0
    with pytest.raises(SpillClosedError, match="deleted when its request ended"):
        await as_file.bytes()


# --- the reference round trip: encode, parse in memory, parse while spilling ------------------

# Control characters cannot appear in a part's header (RFC 9110 field values), so not in names.
names = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"), exclude_characters='"\\%'),
                min_size=1, max_size=12)
values = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=200),
    st.tuples(names, st.binary(max_size=3000)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(names, values), max_size=8))
def test_spilled_and_in_memory_parses_agree_with_what_was_encoded(entries: list[tuple[str, Any]]) -> None:
    form = FormData()
    for name, value in entries:
        form.append(name, value if isinstance(value, str) else File(value[1], value[0], "application/x-b"))
    body, ctype = form.encode()

    async def both() -> tuple[list[Any], list[Any]]:
        bodies = RequestBodies(spill_threshold=64, memory_budget=256)
        spills: list[SpillFile] = []
        in_memory = [(n, await value_of(v)) for n, v in await parse_multipart_bytes(body, ctype)]
        streamed = [(n, await value_of(v)) for n, v in
                    await read_multipart(_memory_stream(body), ctype, bodies, spills)]
        for spill in spills:
            spill.close()
        assert bodies.counters.open_spill_files == 0
        return in_memory, streamed

    in_memory, streamed = asyncio.run(both())
    # Text is sent as UTF-8 and read back with U+FFFD for what is not; CR/LF pairs survive.
    expected = [(n, v if isinstance(v, str) else (v[0], "application/x-b", v[1])) for n, v in entries]
    assert in_memory == streamed == expected


# --- NetworkBody: reading an incoming request under the limit ----------------------------------

ServeBody = Callable[..., Awaitable[tuple[TestClient, RequestBodies, list[NetworkBody]]]]


@pytest.fixture
def serve_body(aiohttp_client: Any, tmp_path: Path) -> ServeBody:
    """An aiohttp server whose handler reads its body through ``NetworkBody`` (``?mode=``)."""

    async def start(**kw: Any) -> tuple[TestClient, RequestBodies, list[NetworkBody]]:
        bodies = policy(tmp_path, **kw)
        sources: list[NetworkBody] = []

        async def handler(request: web.Request) -> web.Response:
            source = NetworkBody(request, bodies)
            sources.append(source)
            mode = request.query.get("mode", "form")
            try:
                if mode == "bytes":
                    return web.json_response({"size": len(await source.get())})
                if mode == "chunks":
                    return web.json_response({"size": sum([len(c) async for c in source.chunks()])})
                entries = await source.read_form(request.headers["content-type"])
                assert entries is not None
                return web.json_response([await summary(n, v) for n, v in entries])
            except RequestBodyTooLarge:
                return web.json_response({"received": source.received}, status=413)
            except TypeError as exc:
                return web.json_response({"error": str(exc)}, status=400)

        app = web.Application()
        app.router.add_post("/", handler)
        return await aiohttp_client(app), bodies, sources

    return start


async def summary(name: str, value: str | FilePart) -> list[Any]:
    if isinstance(value, str):
        return [name, value]
    data = (await value_of(value))[2]
    return [name, data[:4].hex(), isinstance(value.data, SpillFile)]


async def chunked(data: bytes, piece: int = 65536) -> AsyncIterator[bytes]:
    for i in range(0, len(data), piece):
        yield data[i:i + piece]


async def test_a_streamed_upload_spills_and_release_frees_it(serve_body: ServeBody) -> None:
    client, bodies, sources = await serve_body()
    body = multipart(field("a", "1"), file("big", b"\x01" * (3 << 20)), file("small", b"\x02" * 10))
    resp = await client.post("/", data=chunked(body), headers={"content-type": CTYPE})
    assert resp.status == 200, await resp.text()
    assert await resp.json() == [["a", "1"], ["big", "01010101", True], ["small", "02020202", False]]
    (source,) = sources
    assert source.spilled and bodies.counters.open_spill_files == 1
    # What the reader held in memory: never the spilled part, one write batch of it at most.
    assert bodies.counters.peak_buffered <= WRITE_BATCH + READ_CHUNK
    source.release()
    assert not source.spilled and bodies.counters.open_spill_files == 0
    # The body was read as a stream: it cannot be read whole afterwards.
    with pytest.raises(OSError, match="Body already used"):
        await source.get()


@pytest.mark.parametrize("mode", ["form", "bytes", "chunks"])
async def test_a_chunked_body_over_the_limit_stops_being_read(serve_body: ServeBody, mode: str) -> None:
    limit = 64 * 1024
    client, bodies, sources = await serve_body(limit=limit)
    body = multipart(file("big", b"z" * (4 << 20)))
    resp = await client.post(f"/?mode={mode}", data=chunked(body), headers={"content-type": CTYPE})
    assert resp.status == 413
    received = (await resp.json())["received"]
    # Stopped once the count passed the limit: what aiohttp had buffered ahead is all that
    # arrived beyond it (its read buffer is bounded), never the 4 MB.
    assert limit < received < limit + (1 << 20)
    assert sources[0].exceeded and bodies.counters.peak_received_at_rejection == received
    assert bodies.counters.open_spill_files == 0
    assert bodies.counters.peak_buffered <= limit


async def test_a_declared_body_within_the_limit_is_read_whole(serve_body: ServeBody) -> None:
    client, bodies, _ = await serve_body(limit=10_000)
    resp = await client.post("/?mode=bytes", data=b"q" * 10_000)
    assert resp.status == 200 and await resp.json() == {"size": 10_000}
    assert bodies.counters.peak_buffered == 10_000 and bodies.counters.peak_received_at_rejection == 0
