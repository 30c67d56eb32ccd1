"""R2Bucket through its public API: docs/r2.md, "The binding", rule by rule."""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator

import pytest

from emulator.bindings.r2.binding import R2Object, R2ObjectBody
from emulator.bindings.r2.errors import R2Error
from emulator.clock import FakeClock
from emulator.platform import Platform
from tests.helpers.apps import r2_app

MiB = 1024 * 1024


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


async def test_put_get_head_round_trip(bucket: Any, clock: FakeClock) -> None:
    put = await bucket.put("greeting", "hello", httpMetadata={"contentType": "text/plain"},
                           customMetadata={"who": "world"})
    assert isinstance(put, R2Object)
    assert put.key == "greeting" and put.size == 5
    assert put.etag == md5(b"hello") and put.httpEtag == f'"{md5(b"hello")}"'
    assert re.fullmatch(r"[0-9a-f]{32}", put.version)
    assert put.uploaded == datetime.fromtimestamp(clock.now(), tz=UTC)
    assert put.uploaded.tzinfo is not None
    assert put.range is None
    assert put.checksums.toJSON() == {"md5": md5(b"hello")}
    assert put.checksums.md5 == hashlib.md5(b"hello").digest()

    got = await bucket.get("greeting")
    assert isinstance(got, R2ObjectBody)
    assert got.range == {"offset": 0, "length": 5}
    assert got.httpMetadata == {"contentType": "text/plain"}
    assert got.customMetadata.who == "world"
    assert got.version == put.version
    assert not got.bodyUsed
    assert await got.text() == "hello"
    assert got.bodyUsed

    head = await bucket.head("greeting")
    assert head is not None and not isinstance(head, R2ObjectBody)
    assert head.etag == put.etag and head.range == {"offset": 0, "length": 5}
    assert await bucket.head("missing") is None
    assert await bucket.get("missing") is None


async def test_options_as_a_dict(bucket: Any) -> None:
    await bucket.put("k", b"v", {"customMetadata": {"a": "1"}})
    obj = await bucket.get("k", {"range": {"offset": 0, "length": 1}})
    assert obj.customMetadata == {"a": "1"} and await obj.text() == "v"


async def test_value_types(bucket: Any) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"ab"
        yield b"cd"

    cases: list[tuple[Any, bytes]] = [
        ("é", "é".encode()), (b"raw", b"raw"), (bytearray(b"ba"), b"ba"),
        (memoryview(b"mv"), b"mv"), (chunks(), b"abcd"), (io.BytesIO(b"file"), b"file"),
        (None, b""), ("", b""),
    ]
    for i, (value, expected) in enumerate(cases):
        put = await bucket.put(f"v{i}", value)
        assert put.size == len(expected) and put.etag == md5(expected)
        body = await bucket.get(f"v{i}")
        assert bytes(await body.arrayBuffer()) == expected
    with pytest.raises(TypeError):
        await bucket.put("bad", 12345)


async def test_json_and_stream_and_body_used_once(bucket: Any) -> None:
    await bucket.put("j", '{"a": [1, 2]}')
    obj = await bucket.get("j")
    assert await obj.json() == {"a": [1, 2]}
    with pytest.raises(TypeError, match="Body has already been used"):
        await obj.text()
    big = bytes(range(256)) * (3 * MiB // 256)
    await bucket.put("big", big)
    obj = await bucket.get("big")
    chunks = [c async for c in obj.body]
    assert len(chunks) > 1 and b"".join(chunks) == big
    assert obj.bodyUsed


async def test_key_limits(bucket: Any) -> None:
    await bucket.put("k" * 1024, "ok")
    await bucket.put("é" * 512, "ok")  # 1024 UTF-8 bytes
    await bucket.put("", "empty keys are allowed")
    assert await (await bucket.get("")).text() == "empty keys are allowed"
    for method, call in (("put", bucket.put("k" * 1025, "x")), ("get", bucket.get("é" * 513)),
                         ("head", bucket.head("k" * 1025)), ("delete", bucket.delete(["a", "k" * 1025]))):
        with pytest.raises(R2Error) as info:
            await call
        assert str(info.value) == f"{method}: The specified object name is not valid. (10020)"


@pytest.mark.parametrize("metadata, ok", [
    ({"key": "x" * 2045}, True), ({"key": "x" * 2046}, False),
    ({"key": "🙂" * 511}, True), ({"key1": "🙂" * 511}, True), ({"key12": "🙂" * 511}, False),
    ({"a": "1", "b": "2"}, True),
])
async def test_custom_metadata_limit_counts_utf16(bucket: Any, metadata: dict[str, str], ok: bool) -> None:
    if ok:
        assert (await bucket.put("m", "v", customMetadata=metadata)).customMetadata == metadata
    else:
        with pytest.raises(R2Error) as info:
            await bucket.put("m", "v", customMetadata=metadata)
        assert str(info.value) == ("put: Your metadata headers exceed the maximum allowed "
                                   "metadata size. (10012)")
        assert info.value.code == "MetadataTooLarge" and info.value.status == 400


async def test_http_metadata_fields_and_headers(bucket: Any) -> None:
    expiry = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    await bucket.put("h", "v", httpMetadata={
        "contentType": "text/csv", "contentLanguage": "en", "contentDisposition": "inline",
        "contentEncoding": "gzip", "cacheControl": "no-cache", "cacheExpiry": expiry})
    obj = await bucket.head("h")
    assert obj.httpMetadata.cacheExpiry == expiry
    headers: dict[str, str] = {}
    obj.writeHttpMetadata(headers)
    assert headers == {"content-type": "text/csv", "content-language": "en",
                       "content-disposition": "inline", "content-encoding": "gzip",
                       "cache-control": "no-cache", "expires": "Wed, 02 Jan 2030 03:04:05 GMT"}
    # A headers mapping is accepted as httpMetadata too.
    await bucket.put("h2", "v", httpMetadata={"Content-Type": "image/png"})
    assert (await bucket.head("h2")).httpMetadata == {"contentType": "image/png"}


async def test_checksums(bucket: Any) -> None:
    data = b"checksummed"
    sha = hashlib.sha256(data).hexdigest()
    obj = await bucket.put("c", data, sha256=sha.upper())
    assert obj.checksums.toJSON() == {"md5": md5(data), "sha256": sha}
    obj = await bucket.put("c2", data, md5=hashlib.md5(data).digest())
    assert obj.checksums.toJSON() == {"md5": md5(data)}
    wrong = "0" * 32
    with pytest.raises(R2Error) as info:
        await bucket.put("c3", data, md5=wrong)
    assert str(info.value) == (
        "put: The MD5 checksum you specified did not match what we received.\n"
        f"You provided a MD5 checksum with value: {wrong}\n"
        f"Actual MD5 was: {md5(data)} (10037)")
    assert await bucket.head("c3") is None
    with pytest.raises(TypeError, match="multiple hashing algorithms"):
        await bucket.put("c4", data, md5=md5(data), sha1=hashlib.sha1(data).hexdigest())


async def test_conditional_get_and_put(bucket: Any, clock: FakeClock) -> None:
    first = await bucket.put("c", "one")
    uploaded = first.uploaded
    # etagMatches: strong match, wildcard; failing → metadata without body
    assert isinstance(await bucket.get("c", onlyIf={"etagMatches": first.etag}), R2ObjectBody)
    assert isinstance(await bucket.get("c", onlyIf={"etagMatches": "*"}), R2ObjectBody)
    miss = await bucket.get("c", onlyIf={"etagMatches": "nope"})
    assert isinstance(miss, R2Object) and not isinstance(miss, R2ObjectBody)
    assert not isinstance(await bucket.get("c", onlyIf={"etagMatches": f'W/"{first.etag}"'}), R2ObjectBody)
    # etagDoesNotMatch: weak comparison
    assert not isinstance(await bucket.get("c", onlyIf={"etagDoesNotMatch": f'W/"{first.etag}"'}), R2ObjectBody)
    assert isinstance(await bucket.get("c", onlyIf={"etagDoesNotMatch": "other"}), R2ObjectBody)
    # uploadedBefore / uploadedAfter are strict
    assert not isinstance(await bucket.get("c", onlyIf={"uploadedBefore": uploaded}), R2ObjectBody)
    later = uploaded + timedelta(milliseconds=1)
    assert isinstance(await bucket.get("c", onlyIf={"uploadedBefore": later}), R2ObjectBody)
    assert not isinstance(await bucket.get("c", onlyIf={"uploadedAfter": uploaded}), R2ObjectBody)
    earlier = uploaded - timedelta(milliseconds=1)
    assert isinstance(await bucket.get("c", onlyIf={"uploadedAfter": earlier}), R2ObjectBody)
    # secondsGranularity truncates both sides
    await clock.advance(0.5)
    second = await bucket.put("s", "x")
    later = second.uploaded + timedelta(milliseconds=100)
    assert isinstance(await bucket.get("s", onlyIf={"uploadedBefore": later}), R2ObjectBody)
    if later.replace(microsecond=0) == second.uploaded.replace(microsecond=0):
        assert not isinstance(await bucket.get(
            "s", onlyIf={"uploadedBefore": later, "secondsGranularity": True}), R2ObjectBody)
    # If-Modified-Since also passes when etagDoesNotMatch is given and passes
    only_if = {"uploadedAfter": uploaded, "etagDoesNotMatch": "zzz"}
    assert isinstance(await bucket.get("c", onlyIf=only_if), R2ObjectBody)
    # Headers are accepted as onlyIf
    assert not isinstance(await bucket.get("c", onlyIf={"If-None-Match": f'"{first.etag}"'}), R2ObjectBody)
    assert isinstance(await bucket.get("c", onlyIf={"If-Match": f'"{first.etag}"'}), R2ObjectBody)
    # put: failing precondition → None and nothing written
    assert await bucket.put("c", "two", onlyIf={"etagMatches": "nope"}) is None
    assert await (await bucket.get("c")).text() == "one"
    assert (await bucket.put("c", "two", onlyIf={"etagMatches": first.etag})) is not None
    # no object: passes only without etagMatches/uploadedAfter
    assert await bucket.put("new", "x", onlyIf={"etagMatches": "*"}) is None
    assert await bucket.put("new", "x", onlyIf={"uploadedAfter": uploaded}) is None
    assert await bucket.put("new", "x", onlyIf={"etagDoesNotMatch": "*"}) is not None
    assert await bucket.put("new", "y", onlyIf={"etagDoesNotMatch": "*"}) is None


async def test_ranges(bucket: Any) -> None:
    data = b"0123456789"
    await bucket.put("r", data)

    async def read(rng: Any) -> tuple[bytes, Any]:
        obj = await bucket.get("r", range=rng)
        return bytes(await obj.bytes()), obj.range

    assert await read({"offset": 2, "length": 3}) == (b"234", {"offset": 2, "length": 3})
    assert await read({"offset": 7}) == (b"789", {"offset": 7, "length": 3})
    assert await read({"length": 2}) == (b"01", {"offset": 0, "length": 2})
    assert await read({"suffix": 3}) == (b"789", {"offset": 7, "length": 3})
    assert await read({"suffix": 50}) == (data, {"offset": 0, "length": 10})
    assert await read({"offset": 8, "length": 50}) == (b"89", {"offset": 8, "length": 2})
    assert await read({"Range": "bytes=1-3"}) == (b"123", {"offset": 1, "length": 3})
    assert await read({"range": "bytes=-2"}) == (b"89", {"offset": 8, "length": 2})
    assert await read({"range": "bytes=6-"}) == (b"6789", {"offset": 6, "length": 4})
    assert (await read({"range": "bytes=0-1,3-4"}))[0] == data  # several ranges → whole object
    for bad in ({"offset": 11}, {"length": 0}, {"suffix": 0}, {"offset": -1}):
        with pytest.raises(R2Error) as info:
            await bucket.get("r", range=bad)
        assert str(info.value) == "get: The requested range is not satisfiable (10039)"


async def test_range_on_a_large_object_reads_only_the_range(bucket: Any) -> None:
    data = bytes(range(256)) * (9 * MiB // 256)
    await bucket.put("large", data)
    obj = await bucket.get("large", range={"offset": 5 * MiB + 3, "length": 1000})
    assert bytes(await obj.bytes()) == data[5 * MiB + 3: 5 * MiB + 1003]
    obj = await bucket.get("large", range={"suffix": 8})
    assert bytes(await obj.bytes()) == data[-8:]


async def test_delete(bucket: Any) -> None:
    for k in ("a", "b", "c"):
        await bucket.put(k, k)
    assert await bucket.delete("a") is None
    await bucket.delete(["b", "missing"])
    assert [o.key for o in (await bucket.list()).objects] == ["c"]
    with pytest.raises(R2Error):
        await bucket.delete(["c", "x" * 1025])
    assert await bucket.head("c") is not None  # validated before deleting anything


async def test_list_basics_and_pagination(bucket: Any) -> None:
    keys = [f"k{i:02d}" for i in range(25)]
    for k in reversed(keys):
        await bucket.put(k, k, customMetadata={"k": k}, httpMetadata={"contentType": "text/plain"})
    page = await bucket.list()
    assert [o.key for o in page.objects] == keys and page.truncated is False
    assert "cursor" not in page and page.delimitedPrefixes == []
    assert page.objects[0].customMetadata == {} and page.objects[0].httpMetadata == {}
    assert page.objects[0].range is None
    seen: list[str] = []
    cursor = None
    while True:
        page = await bucket.list(limit=10, cursor=cursor)
        seen += [o.key for o in page.objects]
        if not page.truncated:
            break
        cursor = page.cursor
    assert seen == keys
    page = await bucket.list(prefix="k1", startAfter="k12")
    assert [o.key for o in page.objects] == ["k13", "k14", "k15", "k16", "k17", "k18", "k19"]
    assert (await bucket.list(cursor="bad")).objects == []
    included = await bucket.list(include=["customMetadata", "httpMetadata"], limit=1000)
    assert len(included.objects) == 25
    assert included.objects[3].customMetadata == {"k": "k03"}
    assert included.objects[3].httpMetadata == {"contentType": "text/plain"}
    for bad in (0, 1001, -1):
        with pytest.raises(R2Error) as info:
            await bucket.list(limit=bad)
        assert str(info.value) == "list: MaxKeys params must be positive integer <= 1000. (10022)"


async def test_list_include_caps_page_at_100(bucket: Any) -> None:
    for i in range(101):
        await bucket.put(f"i{i:03d}", "")
    page = await bucket.list(include=["customMetadata"])
    assert len(page.objects) == 100 and page.truncated


async def test_list_cursor_sees_keys_inserted_later(bucket: Any) -> None:
    for k in ("a", "b", "d"):
        await bucket.put(k, "")
    page = await bucket.list(limit=2)
    assert [o.key for o in page.objects] == ["a", "b"]
    await bucket.put("c", "")
    assert [o.key for o in (await bucket.list(cursor=page.cursor)).objects] == ["c", "d"]


async def test_list_delimiter(bucket: Any) -> None:
    for k in ("dir0/file0", "dir0/file1", "dir0/sub0/file2", "dir0/sub0/file3",
              "dir0/sub1/file4", "dir0/sub1/file5", "dir1/file6", "dir1/file7", "file8", "file9"):
        await bucket.put(k, k)
    page = await bucket.list(delimiter="/")
    assert [o.key for o in page.objects] == ["file8", "file9"]
    assert page.delimitedPrefixes == ["dir0/", "dir1/"]
    page1 = await bucket.list(prefix="dir0/", delimiter="/", limit=2)
    assert [o.key for o in page1.objects] == ["dir0/file0", "dir0/file1"] and page1.truncated
    page2 = await bucket.list(prefix="dir0/", delimiter="/", limit=2, cursor=page1.cursor)
    assert page2.objects == [] and page2.delimitedPrefixes == ["dir0/sub0/", "dir0/sub1/"]
    assert not page2.truncated


async def test_multipart_upload(bucket: Any) -> None:
    part1 = b"a" * (5 * MiB)
    part2 = b"b" * 1234
    upload = await bucket.createMultipartUpload(
        "mp", customMetadata={"m": "1"}, httpMetadata={"contentType": "application/x-parquet"})
    assert upload.key == "mp" and upload.uploadId
    p1 = await upload.uploadPart(1, part1)
    p2 = await upload.uploadPart(2, part2)
    assert p1.partNumber == 1 and re.fullmatch(r"[0-9a-f]{32}", p1.etag)
    p2b = await upload.uploadPart(2, part2)  # re-upload replaces the part with a new etag
    assert p2b.etag != p2.etag
    obj = await upload.complete([p1, {"partNumber": 2, "etag": p2b.etag}])
    expected = hashlib.md5(hashlib.md5(part1).digest() + hashlib.md5(part2).digest()).hexdigest()
    assert obj.etag == f"{expected}-2" and obj.size == len(part1) + len(part2)
    assert obj.checksums.toJSON() == {}
    got = await bucket.get("mp", range={"offset": 5 * MiB - 2, "length": 4})
    assert bytes(await got.bytes()) == b"aabb"
    assert got.customMetadata == {"m": "1"} and got.httpMetadata.contentType == "application/x-parquet"
    assert bytes(await (await bucket.get("mp")).bytes()) == part1 + part2
    assert [o.key for o in (await bucket.list()).objects] == ["mp"]
    # completed upload: parts → NoSuchUpload, complete again → NoSuchUpload, abort → no-op
    with pytest.raises(R2Error) as info:
        await upload.uploadPart(3, b"x")
    assert str(info.value) == "uploadPart: The specified multipart upload does not exist. (10024)"
    with pytest.raises(R2Error) as info:
        await upload.complete([p1])
    assert str(info.value) == "completeMultipartUpload: The specified multipart upload does not exist. (10024)"
    await upload.abort()
    await bucket.delete("mp")
    assert await bucket.head("mp") is None


async def test_multipart_empty_and_resume(bucket: Any) -> None:
    upload = await bucket.createMultipartUpload("empty")
    resumed = bucket.resumeMultipartUpload("empty", upload.uploadId)
    obj = await resumed.complete([])
    assert obj.size == 0 and obj.etag == "d41d8cd98f00b204e9800998ecf8427e-0"


async def test_multipart_errors(bucket: Any) -> None:
    small = b"s" * 100
    upload = await bucket.createMultipartUpload("e")
    p1 = await upload.uploadPart(1, small)
    p2 = await upload.uploadPart(2, small)

    async def fails(call: Any, code: str, method: str = "completeMultipartUpload") -> None:
        with pytest.raises(R2Error) as info:
            await call
        assert info.value.code == code
        assert str(info.value).startswith(f"{method}: ")

    await fails(bucket.resumeMultipartUpload("e", "unknown").complete([p1]), "InternalError")
    await fails(bucket.resumeMultipartUpload("other-key", upload.uploadId).complete([p1]), "InternalError")
    await fails(upload.complete([p1, p1]), "InternalError")
    await fails(upload.complete([{"partNumber": 1, "etag": "wrong"}]), "InvalidPart")
    await fails(upload.complete([{"partNumber": 9, "etag": p1.etag}]), "InvalidPart")
    await fails(upload.complete([p1, p2]), "EntityTooSmall")
    await fails(bucket.resumeMultipartUpload("e", "unknown").uploadPart(1, b"x"), "NoSuchUpload", "uploadPart")
    await fails(bucket.resumeMultipartUpload("e", "unknown").abort(), "InternalError", "abortMultipartUpload")
    await upload.abort()
    await fails(upload.uploadPart(3, small), "NoSuchUpload", "uploadPart")
    await fails(upload.complete([p1]), "NoSuchUpload")


async def test_multipart_bad_upload_when_sizes_differ(bucket: Any) -> None:
    upload = await bucket.createMultipartUpload("b")
    p1 = await upload.uploadPart(1, b"1" * (5 * MiB))
    p2 = await upload.uploadPart(2, b"2" * (5 * MiB + 1))
    p3 = await upload.uploadPart(3, b"3")
    with pytest.raises(R2Error) as info:
        await upload.complete([p1, p2, p3])
    assert str(info.value) == "completeMultipartUpload: There was a problem with the multipart upload. (10048)"
    # parts need not be contiguous; the last may be smaller
    obj = await upload.complete([p1, p3])
    assert obj.size == 5 * MiB + 1


async def test_buckets_with_the_same_name_are_shared_across_apps(tmp_path: Path) -> None:
    apps = [r2_app(tmp_path, "web", (("UPLOADS", "shared"),)),
            r2_app(tmp_path, "worker", (("STORE", "shared"), ("OTHER", "other")))]
    p = Platform(apps, tmp_path / "state", s3_port=None)
    await p.start()
    try:
        await p.env_for(apps[0]).UPLOADS.put("x", "from web")
        assert await (await p.env_for(apps[1]).STORE.get("x")).text() == "from web"
        assert await p.env_for(apps[1]).OTHER.get("x") is None
    finally:
        await p.stop()


async def test_overwrite_and_delete_leave_no_blob_files(bucket: Any, platform: Platform) -> None:
    blobs = platform.state.binding_dir("r2") / "bucket" / "blobs"
    await bucket.put("big", b"1" * (2 * MiB))
    await bucket.put("big", b"2" * (2 * MiB))
    assert len(list(blobs.iterdir())) == 1
    await bucket.delete("big")
    assert list(blobs.iterdir()) == []


async def test_a_reader_keeps_its_version_after_overwrite(bucket: Any) -> None:
    await bucket.put("v", b"1" * (2 * MiB))
    old = await bucket.get("v")
    await bucket.put("v", b"2" * (2 * MiB))
    assert bytes(await old.bytes()) == b"1" * (2 * MiB)


async def test_concurrent_puts_of_large_values(bucket: Any) -> None:
    values = {f"p{i}": bytes([i]) * (2 * MiB) for i in range(4)}
    await asyncio.gather(*(bucket.put(k, v) for k, v in values.items()))
    for k, v in values.items():
        assert (await bucket.head(k)).etag == md5(v)


async def test_complete_rejects_malformed_parts(bucket: Any) -> None:
    upload = await bucket.createMultipartUpload("m")
    with pytest.raises(TypeError, match="partNumber, etag"):
        await upload.complete([{"partNumber": "1", "etag": "x"}])
    with pytest.raises(TypeError, match="Part number must be between 1 and 10000"):
        await upload.uploadPart(0, b"x")


async def test_results_are_shaped_as_the_sdk_hands_them_to_python(bucket: Any) -> None:
    # The SDK hands an ArrayBuffer over as a memoryview: ours is bytes-like with the
    # memoryview methods, and `.to_bytes()` for pre-SDK code (docs/python-workers.md).
    from emulator.jsobject import ConvertedBuffer, ConvertedList
    from emulator.runtime.http import Blob

    await bucket.put("k.txt", b"hello", httpMetadata={"contentType": "text/plain"})
    buf = await (await bucket.get("k.txt")).arrayBuffer()
    assert isinstance(buf, ConvertedBuffer) and buf == b"hello" and bytes(buf) == b"hello"
    assert buf.tobytes() == b"hello" and buf.nbytes == 5 and buf.to_bytes() == b"hello"
    assert memoryview(buf).tobytes() == b"hello" and buf.decode() == "hello"
    blob = await (await bucket.get("k.txt")).blob()
    assert isinstance(blob, Blob) and blob.content_type == "text/plain" and await blob.text() == "hello"
    listed = await bucket.list()
    assert isinstance(listed.objects, ConvertedList) and [o.key for o in listed.objects.to_py()] == ["k.txt"]
