"""boto3 against the S3-compatible endpoint: same buckets, same persistence as the binding."""

from __future__ import annotations

import base64
import hashlib
import io
import urllib.parse
from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator.platform import Platform
from tests.helpers.apps import r2_app
from tests.helpers.rawhttp import RawResponse, raw_request

MiB = 1024 * 1024


@pytest.fixture
async def s3_platform(tmp_path: Path) -> AsyncIterator[Platform]:
    p = Platform([r2_app(tmp_path)], tmp_path / "state", s3_port=0)
    await p.start()
    yield p
    await p.stop()


def client(endpoint: str) -> Any:
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="auto", aws_access_key_id="anything",
        aws_secret_access_key="anything",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


@pytest.fixture
def s3(s3_platform: Platform) -> Any:
    return client(s3_platform.plugin("r2").s3_endpoint)  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)


async def in_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    # boto3 is blocking; the endpoint runs on this test's loop.
    import asyncio

    return await asyncio.to_thread(fn, *args, **kwargs)


def error_code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


async def test_endpoint_is_reported_in_health(s3_platform: Platform) -> None:
    health = s3_platform.plugin("r2").health()
    endpoint = s3_platform.plugin("r2").s3_endpoint  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
    assert endpoint.startswith("http://127.0.0.1:") and health["s3"] == {"endpoint": endpoint}


async def test_buckets(s3: Any) -> None:
    names = [b["Name"] for b in (await in_thread(s3.list_buckets))["Buckets"]]
    assert names == ["bucket"]
    await in_thread(s3.head_bucket, Bucket="bucket")
    await in_thread(s3.create_bucket, Bucket="made-by-s3")
    assert "made-by-s3" in [b["Name"] for b in (await in_thread(s3.list_buckets))["Buckets"]]
    with pytest.raises(ClientError) as info:
        await in_thread(s3.head_bucket, Bucket="nope-bucket")
    assert error_code(info.value) == "404"
    with pytest.raises(ClientError) as info:
        await in_thread(s3.get_object, Bucket="nope-bucket", Key="k")
    assert error_code(info.value) == "NoSuchBucket"


async def test_put_get_shares_state_with_the_binding(s3: Any, s3_platform: Platform) -> None:
    binding = s3_platform.env_for(s3_platform.apps[0]).BUCKET
    resp = await in_thread(s3.put_object, Bucket="bucket", Key="dir/a b/ü.txt", Body=b"hello s3",
                           ContentType="text/plain", Metadata={"owner": "boto"})
    assert resp["ETag"] == f'"{hashlib.md5(b"hello s3").hexdigest()}"'
    obj = await binding.get("dir/a b/ü.txt")
    assert await obj.text() == "hello s3"
    assert obj.httpMetadata == {"contentType": "text/plain"} and obj.customMetadata == {"owner": "boto"}

    await binding.put("from-binding", b"\x00\x01bin", customMetadata={"x": "y"})
    got = await in_thread(s3.get_object, Bucket="bucket", Key="from-binding")
    assert got["Body"].read() == b"\x00\x01bin" and got["Metadata"] == {"x": "y"}
    head = await in_thread(s3.head_object, Bucket="bucket", Key="dir/a b/ü.txt")
    assert head["ContentLength"] == 8 and head["ContentType"] == "text/plain"
    with pytest.raises(ClientError) as info:
        await in_thread(s3.get_object, Bucket="bucket", Key="missing")
    assert error_code(info.value) == "NoSuchKey"


async def test_ranges_and_conditionals(s3: Any) -> None:
    put = await in_thread(s3.put_object, Bucket="bucket", Key="r", Body=b"0123456789")
    got = await in_thread(s3.get_object, Bucket="bucket", Key="r", Range="bytes=2-4")
    assert got["Body"].read() == b"234" and got["ContentRange"] == "bytes 2-4/10"
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    got = await in_thread(s3.get_object, Bucket="bucket", Key="r", Range="bytes=-3")
    assert got["Body"].read() == b"789"
    with pytest.raises(ClientError) as info:
        await in_thread(s3.get_object, Bucket="bucket", Key="r", Range="bytes=20-30")
    assert error_code(info.value) == "InvalidRange"
    with pytest.raises(ClientError) as info:
        await in_thread(s3.get_object, Bucket="bucket", Key="r", IfNoneMatch=put["ETag"])
    assert error_code(info.value) == "304"
    with pytest.raises(ClientError) as info:
        await in_thread(s3.get_object, Bucket="bucket", Key="r", IfMatch='"other"')
    assert error_code(info.value) == "PreconditionFailed"
    assert (await in_thread(s3.get_object, Bucket="bucket", Key="r", IfMatch=put["ETag"]))["Body"].read()


async def test_list_objects_v2_and_v1(s3: Any) -> None:
    keys = ["a/1", "a/2", "a/b/3", "c d", "e/../f", "z"]
    for k in keys:
        await in_thread(s3.put_object, Bucket="bucket", Key=k, Body=k.encode())
    listed = await in_thread(s3.list_objects_v2, Bucket="bucket")
    assert [o["Key"] for o in listed["Contents"]] == keys and listed["KeyCount"] == 6
    grouped = await in_thread(s3.list_objects_v2, Bucket="bucket", Delimiter="/")
    assert [o["Key"] for o in grouped["Contents"]] == ["c d", "z"]
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["a/", "e/"]
    sub = await in_thread(s3.list_objects_v2, Bucket="bucket", Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in sub["Contents"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in sub["CommonPrefixes"]] == ["a/b/"]
    paginator = s3.get_paginator("list_objects_v2")
    pages = await in_thread(lambda: list(paginator.paginate(Bucket="bucket", PaginationConfig={"PageSize": 2})))
    assert len(pages) == 3 and [o["Key"] for p in pages for o in p["Contents"]] == keys
    after = await in_thread(s3.list_objects_v2, Bucket="bucket", StartAfter="c d")
    assert [o["Key"] for o in after["Contents"]] == ["e/../f", "z"]
    v1 = await in_thread(s3.list_objects, Bucket="bucket", Marker="a/2", MaxKeys=2)
    assert [o["Key"] for o in v1["Contents"]] == ["a/b/3", "c d"] and v1["IsTruncated"]


async def test_delete_copy(s3: Any, s3_platform: Platform) -> None:
    await in_thread(s3.put_object, Bucket="bucket", Key="src", Body=b"copy me",
                    ContentType="text/x", Metadata={"k": "v"})
    await in_thread(s3.copy_object, Bucket="bucket", Key="dst", CopySource={"Bucket": "bucket", "Key": "src"})
    head = await in_thread(s3.head_object, Bucket="bucket", Key="dst")
    assert head["Metadata"] == {"k": "v"} and head["ContentType"] == "text/x"
    await in_thread(s3.copy_object, Bucket="bucket", Key="dst2", CopySource="bucket/src",
                    MetadataDirective="REPLACE", Metadata={"new": "1"}, ContentType="text/y")
    head = await in_thread(s3.head_object, Bucket="bucket", Key="dst2")
    assert head["Metadata"] == {"new": "1"} and head["ContentType"] == "text/y"
    await in_thread(s3.create_bucket, Bucket="other")
    await in_thread(s3.copy_object, Bucket="other", Key="x", CopySource="bucket/src")
    assert (await in_thread(s3.get_object, Bucket="other", Key="x"))["Body"].read() == b"copy me"

    resp = await in_thread(s3.delete_object, Bucket="bucket", Key="dst")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    await in_thread(s3.delete_object, Bucket="bucket", Key="never-existed")
    resp = await in_thread(s3.delete_objects, Bucket="bucket",
                           Delete={"Objects": [{"Key": "src"}, {"Key": "dst2"}]})
    assert sorted(d["Key"] for d in resp["Deleted"]) == ["dst2", "src"]
    assert (await in_thread(s3.list_objects_v2, Bucket="bucket"))["KeyCount"] == 0


async def test_content_md5_is_checked(s3: Any) -> None:
    import base64

    good = base64.b64encode(hashlib.md5(b"data").digest()).decode()
    await in_thread(s3.put_object, Bucket="bucket", Key="m", Body=b"data", ContentMD5=good)
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as info:
        await in_thread(s3.put_object, Bucket="bucket", Key="m2", Body=b"data", ContentMD5=bad)
    assert error_code(info.value) == "BadDigest"


async def test_multipart_with_the_transfer_manager_and_by_hand(s3: Any, s3_platform: Platform) -> None:
    data = bytes(range(256)) * (13 * MiB // 256)
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=2)
    await in_thread(s3.upload_fileobj, io.BytesIO(data), "bucket", "big.parquet", Config=config)
    head = await in_thread(s3.head_object, Bucket="bucket", Key="big.parquet")
    assert head["ContentLength"] == len(data) and head["ETag"].endswith('-3"')
    out = io.BytesIO()
    await in_thread(s3.download_fileobj, "bucket", "big.parquet", out)
    assert out.getvalue() == data
    binding = s3_platform.env_for(s3_platform.apps[0]).BUCKET
    footer = await binding.get("big.parquet", range={"suffix": 8})
    assert bytes(await footer.bytes()) == data[-8:]

    mpu = await in_thread(s3.create_multipart_upload, Bucket="bucket", Key="hand", Metadata={"a": "b"})
    uid = mpu["UploadId"]
    part = await in_thread(s3.upload_part, Bucket="bucket", Key="hand", UploadId=uid, PartNumber=1, Body=b"p" * 10)
    with pytest.raises(ClientError) as info:  # a single small part is fine, but not a bad etag
        await in_thread(s3.complete_multipart_upload, Bucket="bucket", Key="hand", UploadId=uid,
                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"bad"'}]})
    assert error_code(info.value) == "InvalidPart"
    await in_thread(s3.complete_multipart_upload, Bucket="bucket", Key="hand", UploadId=uid,
                    MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    got = await in_thread(s3.get_object, Bucket="bucket", Key="hand")
    assert got["Body"].read() == b"p" * 10 and got["Metadata"] == {"a": "b"}
    mpu = await in_thread(s3.create_multipart_upload, Bucket="bucket", Key="aborted")
    await in_thread(s3.abort_multipart_upload, Bucket="bucket", Key="aborted", UploadId=mpu["UploadId"])
    with pytest.raises(ClientError) as info:
        await in_thread(s3.upload_part, Bucket="bucket", Key="aborted", UploadId=mpu["UploadId"],
                        PartNumber=1, Body=b"x")
    assert error_code(info.value) == "NoSuchUpload"


async def test_s3_writes_are_persisted(tmp_path: Path) -> None:
    app = r2_app(tmp_path)
    p = Platform([app], tmp_path / "state", s3_port=0)
    await p.start()
    s3 = client(p.plugin("r2").s3_endpoint)  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
    await in_thread(s3.put_object, Bucket="bucket", Key="kept", Body=b"persisted via s3",
                    Metadata={"m": "1"})
    await p.stop()
    p = Platform([app], tmp_path / "state", s3_port=None)
    await p.start()
    try:
        obj = await p.env_for(app).BUCKET.get("kept")
        assert await obj.text() == "persisted via s3" and obj.customMetadata == {"m": "1"}
    finally:
        await p.stop()


async def test_aws_chunked_bodies_are_decoded(s3_platform: Platform) -> None:
    import aiohttp

    endpoint = s3_platform.plugin("r2").s3_endpoint  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
    body = b"5;chunk-signature=abc\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    async with aiohttp.ClientSession() as session:
        async with session.put(f"{endpoint}/bucket/chunked", data=body, headers={
                "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                "content-encoding": "aws-chunked", "x-amz-decoded-content-length": "11"}) as resp:
            assert resp.status == 200
        async with session.get(f"{endpoint}/bucket/chunked") as resp:
            assert await resp.read() == b"hello world"
            assert "content-encoding" not in resp.headers
        async with session.post(f"{endpoint}/bucket/posted", data=b"post is put") as resp:
            assert resp.status == 200  # R2 quirk: POST on a key stores the object
        async with session.get(f"{endpoint}/bucket/posted", headers={"range": "bytes=5-"}) as resp:
            assert resp.status == 206 and await resp.read() == b"is put"


async def test_a_busy_port_is_a_clear_error(tmp_path: Path, s3_platform: Platform) -> None:
    port = int(s3_platform.plugin("r2").s3_endpoint.rsplit(":", 1)[1])  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
    other = Platform([r2_app(tmp_path, "other")], tmp_path / "other-state", s3_port=port)
    with pytest.raises(RuntimeError, match=f"S3 endpoint: cannot listen on 127.0.0.1:{port}"):
        await other.start()
    await other.stop()


async def test_unsupported_sub_resources_are_not_implemented(s3: Any) -> None:
    await in_thread(s3.put_object, Bucket="bucket", Key="k", Body=b"v")
    for call, kwargs in ((s3.get_object_acl, {"Bucket": "bucket", "Key": "k"}),
                         (s3.get_bucket_versioning, {"Bucket": "bucket"}),
                         (s3.get_object_tagging, {"Bucket": "bucket", "Key": "k"})):
        with pytest.raises(ClientError) as info:
            await in_thread(call, **kwargs)
        assert error_code(info.value) == "NotImplemented"


# --- CORS and who may call (docs/r2.md#cors, docs/security.md) ------------------------------
APP_ORIGIN = "http://localhost:5173"
UPLOAD_RULES = [{"AllowedOrigins": [APP_ORIGIN], "AllowedMethods": ["PUT", "GET"],
                 "AllowedHeaders": ["content-type"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600}]


async def test_bucket_cors_round_trips_through_boto3_and_persists(tmp_path: Path) -> None:
    app = r2_app(tmp_path)
    p = Platform([app], tmp_path / "state", s3_port=0)
    await p.start()
    try:
        s3 = client(p.plugin("r2").s3_endpoint)  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
        with pytest.raises(ClientError) as info:
            await in_thread(s3.get_bucket_cors, Bucket="bucket")
        assert error_code(info.value) == "NoSuchCORSConfiguration"
        await in_thread(s3.put_bucket_cors, Bucket="bucket", CORSConfiguration={"CORSRules": UPLOAD_RULES})
    finally:
        await p.stop()
    p = Platform([app], tmp_path / "state", s3_port=0)  # a restart keeps the rules
    await p.start()
    try:
        s3 = client(p.plugin("r2").s3_endpoint)  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
        rules = (await in_thread(s3.get_bucket_cors, Bucket="bucket"))["CORSRules"]
        assert rules == UPLOAD_RULES
        with pytest.raises(ClientError) as info:
            await in_thread(s3.put_bucket_cors, Bucket="bucket", CORSConfiguration={"CORSRules": [
                {"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]})
        assert error_code(info.value) == "InvalidRequest"
        assert (await in_thread(s3.get_bucket_cors, Bucket="bucket"))["CORSRules"] == UPLOAD_RULES
        await in_thread(s3.delete_bucket_cors, Bucket="bucket")
        with pytest.raises(ClientError) as info:
            await in_thread(s3.get_bucket_cors, Bucket="bucket")
        assert error_code(info.value) == "NoSuchCORSConfiguration"
    finally:
        await p.stop()


async def test_a_web_app_uploads_through_a_presigned_url_only_as_the_rules_allow(
        s3: Any, s3_platform: Platform) -> None:
    import aiohttp

    store = s3_platform.plugin("r2").store  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
    url = await in_thread(s3.generate_presigned_url, "put_object",
                          Params={"Bucket": "bucket", "Key": "avatar.png"}, ExpiresIn=600)
    preflight = {"Origin": APP_ORIGIN, "Access-Control-Request-Method": "PUT",
                 "Access-Control-Request-Headers": "content-type"}
    upload = {"Origin": APP_ORIGIN, "Content-Type": "image/png"}
    async with aiohttp.ClientSession() as session:
        # No rules yet: the preflight fails, and so does the write a browser would not even send.
        async with session.options(url, headers=preflight) as resp:
            assert resp.status == 403 and "Access-Control-Allow-Origin" not in resp.headers
            assert "<Code>AccessForbidden</Code>" in await resp.text()
        async with session.put(url, data=b"png", headers=upload) as resp:
            assert resp.status == 403 and "<Code>AccessDenied</Code>" in await resp.text()
        # A simple cross-site POST (R2 stores POST-on-key as a put) is refused too.
        async with session.post(url, data=b"x", headers={"Origin": "http://evil.example",
                                                         "Content-Type": "text/plain"}) as resp:
            assert resp.status == 403
        assert store.head("bucket", "avatar.png") is None

        await in_thread(s3.put_bucket_cors, Bucket="bucket", CORSConfiguration={"CORSRules": UPLOAD_RULES})
        async with session.options(url, headers=preflight) as resp:
            assert resp.status == 200
            assert resp.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
            assert resp.headers["Access-Control-Allow-Methods"] == "PUT, GET"
            assert resp.headers["Access-Control-Allow-Headers"] == "content-type"
            assert resp.headers["Access-Control-Max-Age"] == "600"
        async with session.put(url, data=b"png", headers=upload) as resp:
            assert resp.status == 200
            assert resp.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
            assert resp.headers["Access-Control-Expose-Headers"] == "ETag"
        assert store.head("bucket", "avatar.png") is not None
        # Another page: no preflight approval, no write, no CORS headers on reads.
        async with session.options(url, headers={**preflight, "Origin": "http://evil.example"}) as resp:
            assert resp.status == 403 and "Access-Control-Allow-Origin" not in resp.headers
        async with session.put(url, data=b"evil", headers={"Origin": "http://evil.example"}) as resp:
            assert resp.status == 403
        async with session.delete(url, headers={"Origin": APP_ORIGIN}) as resp:
            assert resp.status == 403  # DELETE is not in the rule
        endpoint = s3_platform.plugin("r2").s3_endpoint  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
        async with session.get(f"{endpoint}/bucket/avatar.png", headers={"Origin": "http://evil.example"}) as resp:
            assert resp.status == 200 and "Access-Control-Allow-Origin" not in resp.headers
        async with session.get(f"{endpoint}/bucket/avatar.png", headers={"Origin": APP_ORIGIN}) as resp:
            assert await resp.read() == b"png" and resp.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
        # Even an allowed origin cannot rewrite the bucket's rules from a browser.
        async with session.delete(f"{endpoint}/bucket?cors", headers={"Origin": APP_ORIGIN}) as resp:
            assert resp.status == 403
    assert (await in_thread(s3.get_bucket_cors, Bucket="bucket"))["CORSRules"] == UPLOAD_RULES
    obj = await in_thread(s3.get_object, Bucket="bucket", Key="avatar.png")
    assert obj["Body"].read() == b"png"


async def test_a_foreign_host_is_refused(s3: Any, s3_platform: Platform) -> None:
    import aiohttp

    endpoint = s3_platform.plugin("r2").s3_endpoint  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
    port = endpoint.rsplit(":", 1)[1]
    await in_thread(s3.put_object, Bucket="bucket", Key="k", Body=b"v")
    async with aiohttp.ClientSession() as session:
        for method in ("GET", "PUT", "DELETE"):
            async with session.request(method, f"{endpoint}/bucket/k",
                                       headers={"Host": f"rebound.example:{port}"}) as resp:
                assert resp.status == 403 and "<Code>AccessDenied</Code>" in await resp.text()
        async with session.get(f"{endpoint}/bucket/k", headers={"Host": f"localhost:{port}"}) as resp:
            assert resp.status == 200 and await resp.read() == b"v"
    assert (await in_thread(s3.get_object, Bucket="bucket", Key="k"))["Body"].read() == b"v"


# --- bad requests: the S3 error R2 gives, never a 500, nothing written -----------------------
def s3_port(platform: Platform) -> int:
    return int(platform.plugin("r2").s3_endpoint.rsplit(":", 1)[1])  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)


def stored_keys(platform: Platform, bucket: str = "bucket") -> list[str]:
    return [o.key for o in platform.plugin("r2").store.list(bucket)]  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)


def s3_code(response: RawResponse) -> str:
    import xml.etree.ElementTree as ET

    return ET.fromstring(response.body).findtext("Code") or ""


CHUNKED = {"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "content-encoding": "aws-chunked"}


@pytest.mark.parametrize(("body", "extra", "code"), [
    (b"zz\r\nabc\r\n0\r\n\r\n", {}, "InvalidRequest"),                       # size is not hex
    (b"-3\r\nabc\r\n0\r\n\r\n", {}, "InvalidRequest"),
    (b"3\r\nabcXX0\r\n\r\n", {}, "InvalidRequest"),                           # no CRLF after the data
    (b"3\nabc\r\n0\r\n\r\n", {}, "InvalidRequest"),                           # bare LF
    (b"10\r\nabc", {}, "IncompleteBody"),                                     # truncated chunk
    (b"3\r\nabc\r\n", {}, "IncompleteBody"),                                  # no final chunk
    (b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAA\r\ngarbage\r\n\r\n", {}, "InvalidRequest"),
    (b"3\r\nabc\r\n0\r\n\r\nmore", {}, "InvalidRequest"),                     # data after the end
    (b"3\r\nabc\r\n0\r\n\r\n", {"x-amz-decoded-content-length": "5"}, "IncompleteBody"),
    (b"3\r\nabc\r\n0\r\n\r\n", {"x-amz-decoded-content-length": "2"}, "IncompleteBody"),
    (b"3\r\nabc\r\n0\r\n\r\n", {"x-amz-decoded-content-length": "x"}, "InvalidArgument"),
    (b"fffffffffff\r\nabc", {}, "InvalidRequest"),                            # a 16 TiB chunk: not read
    (b"1" * 10_000 + b"\r\n", {}, "InvalidRequest"),                          # an endless size line
])
async def test_malformed_aws_chunked_bodies(s3_platform: Platform, body: bytes, extra: dict[str, str],
                                            code: str) -> None:
    response = await raw_request(s3_port(s3_platform), "PUT", "/bucket/chunked", {**CHUNKED, **extra}, body)
    assert (response.status, s3_code(response)) == (400, code)
    assert stored_keys(s3_platform) == []


async def test_aws_chunked_bodies_are_read_in_bounded_pieces(s3_platform: Platform) -> None:
    data = bytes(range(256)) * (3 * 4096 + 17)  # one 3 MiB chunk: yielded in 1 MiB pieces
    body = b"%x;chunk-signature=%s\r\n%s\r\n0;chunk-signature=%s\r\n\r\n" % (len(data), b"0" * 64, data, b"0" * 64)
    response = await raw_request(s3_port(s3_platform), "PUT", "/bucket/big", {
        **CHUNKED, "x-amz-decoded-content-length": str(len(data)),
        "content-md5": base64.b64encode(hashlib.md5(data).digest()).decode()}, body)
    assert response.status == 200
    got = await raw_request(s3_port(s3_platform), "GET", "/bucket/big")
    assert got.body == data


async def test_content_md5_mismatch_writes_nothing(s3_platform: Platform) -> None:
    port = s3_port(s3_platform)
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    response = await raw_request(port, "PUT", "/bucket/k", {"content-md5": wrong}, b"body")
    assert (response.status, s3_code(response)) == (400, "BadDigest")
    response = await raw_request(port, "PUT", "/bucket/k", {"content-md5": "not base64!"}, b"body")
    assert (response.status, s3_code(response)) == (400, "InvalidDigest")
    chunked = await raw_request(port, "PUT", "/bucket/k", {**CHUNKED, "content-md5": wrong},
                                b"4\r\nbody\r\n0\r\n\r\n")
    assert s3_code(chunked) == "BadDigest"
    assert stored_keys(s3_platform) == []


@pytest.mark.parametrize(("path", "body", "code"), [
    ("/bucket?delete", b"<Delete><Object><Key>a", "MalformedXML"),
    ("/bucket?delete", b'<!DOCTYPE d [<!ENTITY a "b">]><Delete><Object><Key>&a;</Key></Object></Delete>',
     "MalformedXML"),
    ("/bucket?delete", b"<Delete>" + b"<Object><Key>k</Key></Object>" * 1001 + b"</Delete>", "MalformedXML"),
    ("/bucket?delete", b"<Delete><Object><Key>" + b"k" * 1025 + b"</Key></Object></Delete>", "InvalidObjectName"),
    ("/bucket?delete", b"<Delete>" + b" " * (5 * 1024 * 1024) + b"</Delete>", "MaxMessageLengthExceeded"),
    ("/bucket/k?uploadId=UPLOAD", b"<CompleteMultipartUpload><Part>", "MalformedXML"),
    ("/bucket/k?uploadId=UPLOAD", b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber></Part>"
                                  b"</CompleteMultipartUpload>", "MalformedXML"),
])
async def test_bad_xml_bodies(s3_platform: Platform, path: str, body: bytes, code: str) -> None:
    port = s3_port(s3_platform)
    await raw_request(port, "PUT", "/bucket/keep", body=b"v")
    created = await raw_request(port, "POST", "/bucket/k?uploads")
    upload_id = created.body.split(b"<UploadId>")[1].split(b"</UploadId>")[0].decode()
    response = await raw_request(port, "POST", path.replace("UPLOAD", upload_id), body=body)
    assert (response.status, s3_code(response)) == (400, code)
    assert stored_keys(s3_platform) == ["keep"]


@pytest.mark.parametrize(("body", "code"), [
    (b'<!DOCTYPE c [<!ENTITY a "*">]><CORSConfiguration><CORSRule><AllowedOrigin>&a;</AllowedOrigin>'
     b"<AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>", "MalformedXML"),
    (b"<CORSConfiguration>" + b" " * (5 * 1024 * 1024) + b"</CORSConfiguration>", "MaxMessageLengthExceeded"),
])
async def test_bad_cors_bodies_change_nothing(s3_platform: Platform, body: bytes, code: str) -> None:
    # PutBucketCors reads its body under the same bound and DTD refusal as the other XML calls.
    port = s3_port(s3_platform)
    response = await raw_request(port, "PUT", "/bucket?cors", body=body)
    assert (response.status, s3_code(response)) == (400, code)
    response = await raw_request(port, "GET", "/bucket?cors")
    assert (response.status, s3_code(response)) == (404, "NoSuchCORSConfiguration")


@pytest.mark.parametrize(("header", "status", "body"), [
    ("bytes=2-4", 206, b"234"), ("bytes=-3", 206, b"789"), ("bytes=7-", 206, b"789"),
    ("bytes=8-100", 206, b"89"), ("bytes=-100", 206, b"0123456789"),
    ("bytes=5-2", 200, b"0123456789"), ("bytes=0-1,3-4", 200, b"0123456789"), ("bytes=abc", 200, b"0123456789"),
    ("items=0-1", 200, b"0123456789"), ("bytes=" + "9" * 500 + "-", 200, b"0123456789"),
    ("bytes=10-", 416, None), ("bytes=-0", 416, None), ("bytes=99999999999999999999-", 416, None),
])
async def test_range_headers(s3_platform: Platform, header: str, status: int, body: bytes | None) -> None:
    port = s3_port(s3_platform)
    await raw_request(port, "PUT", "/bucket/r", body=b"0123456789")
    response = await raw_request(port, "GET", "/bucket/r", {"range": header})
    assert response.status == status
    if body is not None:
        assert response.body == body
    else:
        assert s3_code(response) == "InvalidRange"


async def test_keys_with_invalid_utf8_escapes_are_refused_not_merged(s3_platform: Platform) -> None:
    port = s3_port(s3_platform)
    for target in ("/bucket/a%FFz", "/bucket/a%FEz", "/bucket/a%C3", "/bucket/%ED%A0%80",
                   "/%FF/k", "/bucket?list-type=2&prefix=%FF"):
        response = await raw_request(port, "PUT" if "list" not in target else "GET", target, body=b"x")
        assert (response.status, s3_code(response)) == (400, "InvalidArgument"), target
    copy = await raw_request(port, "PUT", "/bucket/copy", {"x-amz-copy-source": "/bucket/a%FFz"})
    assert s3_code(copy) == "InvalidArgument"
    assert stored_keys(s3_platform) == []
    # Escaped percent signs are ordinary characters: two distinct keys.
    await raw_request(port, "PUT", "/bucket/a%25FFz", body=b"1")
    await raw_request(port, "PUT", "/bucket/a%25FEz", body=b"2")
    assert stored_keys(s3_platform) == ["a%FEz", "a%FFz"]


async def test_key_length_limit_is_r2s(s3_platform: Platform) -> None:
    port = s3_port(s3_platform)
    ok = "é" * 512  # 1024 bytes
    assert (await raw_request(port, "PUT", "/bucket/" + urllib.parse.quote(ok), body=b"v")).status == 200
    too_long = await raw_request(port, "PUT", "/bucket/" + urllib.parse.quote(ok + "x"), body=b"v")
    assert (too_long.status, s3_code(too_long)) == (400, "InvalidObjectName")
    assert stored_keys(s3_platform) == [ok]


async def test_metadata_headers_that_are_not_utf8_are_refused(s3_platform: Platform) -> None:
    port = s3_port(s3_platform)
    response = await raw_request(port, "PUT", "/bucket/k", {b"x-amz-meta-owner": b"caf\xe9"}, b"v")
    assert (response.status, s3_code(response)) == (400, "InvalidArgument")
    fine = await raw_request(port, "PUT", "/bucket/k", {b"x-amz-meta-owner": "café".encode()}, b"v")
    assert fine.status == 200
    assert stored_keys(s3_platform) == ["k"]


async def test_conditional_put_ignores_dates_that_do_not_parse(s3_platform: Platform) -> None:
    port = s3_port(s3_platform)
    response = await raw_request(port, "PUT", "/bucket/k", {"if-none-match": "*", "if-modified-since": "soon"},
                                 b"v")
    assert response.status == 200
    again = await raw_request(port, "PUT", "/bucket/k", {"if-none-match": "*", "if-unmodified-since": "x"}, b"w")
    assert (again.status, s3_code(again)) == (412, "PreconditionFailed")


async def test_keys_with_control_characters(s3_platform: Platform) -> None:
    import xml.etree.ElementTree as ET

    port = s3_port(s3_platform)
    for key in ("a%0Ab", "a%00b"):
        assert (await raw_request(port, "PUT", f"/bucket/{key}", body=b"v")).status == 200
        assert (await raw_request(port, "GET", f"/bucket/{key}")).body == b"v"
    assert stored_keys(s3_platform) == ["a\x00b", "a\nb"]
    missing = await raw_request(port, "GET", "/bucket/x%00%0A")
    assert (missing.status, s3_code(missing)) == (404, "NoSuchKey")  # an XML document despite the NUL
    listed = ET.fromstring((await raw_request(port, "GET", "/bucket?list-type=2&encoding-type=url")).body)
    assert sorted(k.text or "" for k in listed.iter("{http://s3.amazonaws.com/doc/2006-03-01/}Key")) == [
        "a%00b", "a%0Ab"]
    plain = ET.fromstring((await raw_request(port, "GET", "/bucket?list-type=2")).body)  # NUL → U+FFFD
    assert "a\ufffdb" in [k.text for k in plain.iter("{http://s3.amazonaws.com/doc/2006-03-01/}Key")]


async def test_listing_escapes_keys_and_carries_each_objects_upload_time(s3: Any, s3_platform: Platform) -> None:
    from datetime import UTC, datetime

    keys = ["a&b", "c<d>e", "plain", "ü/é", "q\"uote'"]
    for k in keys:
        await in_thread(s3.put_object, Bucket="bucket", Key=k, Body=k.encode())
    listed = await in_thread(s3.list_objects_v2, Bucket="bucket")
    assert [o["Key"] for o in listed["Contents"]] == sorted(keys)
    store = s3_platform.plugin("r2").store  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
    for o in listed["Contents"]:
        stored = store.head("bucket", o["Key"])
        assert o["LastModified"] == datetime.fromtimestamp(stored.uploaded / 1000, tz=UTC)
        assert o["ETag"] == f'"{stored.etag}"' and o["Size"] == stored.size


def test_listing_dates_are_iso_with_milliseconds() -> None:
    from datetime import UTC, datetime

    from emulator.bindings.r2.s3 import _iso

    for ms in (0, 999, 1_700_000_000_123, 1_700_000_000_999, 4_102_444_799_001):
        dt = datetime.fromtimestamp(ms // 1000, tz=UTC).replace(microsecond=ms % 1000 * 1000)
        assert _iso(ms) == dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
