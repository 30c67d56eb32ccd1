"""Fuzz target: the S3 endpoint under random requests.

Random methods, paths (bucket and key, with valid, invalid and literal percent-escapes, dot
segments, over-long keys), query strings (the sub-resources and list parameters S3 clients
send, with random values), headers (conditionals, ranges, Content-MD5, copy sources, metadata,
aws-chunked framing) and bodies (random bytes, aws-chunked bodies built from random chunks
and then damaged, DeleteObjects / CompleteMultipartUpload XML). Every answer is a 2xx/3xx or
an S3 XML error with a 4xx or 501 status, never a 5xx otherwise; a rejected request leaves
every bucket's objects and multipart uploads as they were. Bytes go out as written
(tests/helpers/rawhttp.py). Run longer with ``HYPOTHESIS_PROFILE=fuzz``.
"""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.platform import Platform
from tests.helpers.fuzz import fuzz_settings
from tests.helpers.rawhttp import raw_request

from tests.helpers.apps import r2_app


@pytest.fixture
async def endpoint(tmp_path: Path) -> AsyncIterator[tuple[Platform, int]]:
    p = Platform([r2_app(tmp_path, buckets=(("A", "bucket"), ("B", "other")))], tmp_path / "state", s3_port=0)
    await p.start()
    port = int(p.plugin("r2").s3_endpoint.rsplit(":", 1)[1])  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
    for key in ("k", "dir/a b", "é"):
        await raw_request(port, "PUT", f"/bucket/{quote(key)}", body=b"0123456789")
    yield p, port
    await p.stop()


def snapshot(platform: Platform) -> dict[str, Any]:
    store = platform.plugin("r2").store  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
    return {b: ([(o.key, o.etag, o.size) for o in store.list(b)],
                sorted(u.upload_id for u in store.uploads(b))) for b in store.bucket_names()}


texts = st.text(st.characters(codec="utf-8"), max_size=12)
query_text = texts.map(lambda t: quote(t, safe=""))  # raw bytes would stop at the HTTP parser
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)
escapes = st.sampled_from(["%FF", "%FE", "%C3", "%ED%A0%80", "%zz", "%", "%25FF", "%2F", "%00", "%0A", "..", ".", "//"])
path_text = st.lists(st.one_of(texts.map(lambda t: quote(t, safe="/")), escapes), max_size=4).map("".join)
keys = st.one_of(st.sampled_from(["k", "dir/a%20b", "%C3%A9", "new", "x" * 1025, quote("é" * 600)]), path_text)
buckets = st.sampled_from(["bucket", "other", "nope", "", "New_Bucket", "%FF", "ab"])

PARAMS = {
    "uploads": st.just(""), "uploadId": st.one_of(st.just("UPLOAD"), query_text), "delete": st.just(""),
    "partNumber": st.one_of(st.integers(-2, 10_002).map(str), query_text),
    "list-type": st.sampled_from(["1", "2", "x"]),
    "prefix": path_text, "delimiter": st.sampled_from(["/", "", "%FF", "a"]), "max-keys": st.one_of(
        st.integers(-5, 2000).map(str), st.sampled_from(["9" * 30, "x", ""])),
    "continuation-token": query_text, "start-after": path_text, "marker": path_text,
    "encoding-type": st.sampled_from(["url", "x"]), "location": st.just(""), "acl": st.just(""),
    "tagging": st.just(""), "versionId": query_text,
}
queries = st.dictionaries(st.sampled_from(sorted(PARAMS)), st.just(None), max_size=3).flatmap(
    lambda chosen: st.fixed_dictionaries({k: PARAMS[k] for k in chosen}))

http_dates = st.sampled_from(["Mon, 01 Jan 2024 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "soon", ""])
HEADERS = {
    "range": st.one_of(st.sampled_from(["bytes=0-3", "bytes=-2", "bytes=5-", "bytes=-0", "bytes=9-1", "bytes=1-2,4-5",
                                        "bytes=99-", "bytes=" + "9" * 150 + "-"]), header_text),
    "if-match": st.sampled_from(["*", '"x"', "W/\"y\"", ""]), "if-none-match": st.sampled_from(["*", '"x"', ""]),
    "if-modified-since": http_dates, "if-unmodified-since": http_dates,
    "content-md5": st.sampled_from(["", "AAAAAAAAAAAAAAAAAAAAAA==", "not base64", "MD5"]),
    "x-amz-copy-source": st.one_of(st.sampled_from(["/bucket/k", "bucket/%FF", "/nope/k", "/bucket/" + "x" * 1100]),
                                   path_text),
    "x-amz-metadata-directive": st.sampled_from(["COPY", "REPLACE", "x"]),
    "content-type": st.sampled_from(["text/plain", "", "application/xml"]),
    "x-amz-meta-owner": st.sampled_from(["me", "x" * 3000]),
    "cache-control": st.sampled_from(["no-cache", ""]), "expires": http_dates,
    "x-amz-decoded-content-length": st.one_of(st.integers(-1, 40).map(str), st.sampled_from(["x", "9" * 30])),
}
headers = st.dictionaries(st.sampled_from(sorted(HEADERS)), st.just(None), max_size=4).flatmap(
    lambda chosen: st.fixed_dictionaries({k: HEADERS[k] for k in chosen}))


@st.composite
def chunked_bodies(draw: st.DrawFn) -> bytes:
    """A well-formed aws-chunked body, then maybe damaged in one way."""
    chunks = draw(st.lists(st.binary(min_size=1, max_size=40), max_size=4))
    sig = draw(st.sampled_from([b"", b";chunk-signature=" + b"0" * 64]))
    body = b"".join(b"%x%s\r\n%s\r\n" % (len(c), sig, c) for c in chunks) + b"0" + sig + b"\r\n"
    body += draw(st.sampled_from([b"", b"x-amz-checksum-crc32:AAAAAA==\r\n"])) + b"\r\n"
    damage = draw(st.sampled_from(["none", "cut", "flip", "insert", "garbage"]))
    if damage != "none" and body:
        at = draw(st.integers(0, len(body) - 1))
        if damage == "cut":
            body = body[:at]
        elif damage == "flip":
            body = body[:at] + bytes([body[at] ^ draw(st.integers(1, 255))]) + body[at + 1:]
        elif damage == "insert":
            body = body[:at] + draw(st.sampled_from([b"\r\n", b"ffffffff\r\n", b";", b"\n", b"zz"])) + body[at:]
        else:
            body += draw(st.binary(min_size=1, max_size=20))
    return body


xml_bodies = st.one_of(
    st.lists(keys, max_size=5).map(lambda ks: ("<Delete>" + "".join(
        f"<Object><Key>{k}</Key></Object>" for k in ks) + "</Delete>").encode()),
    st.lists(st.tuples(st.integers(-1, 10_001), texts), max_size=4).map(lambda ps: (
        "<CompleteMultipartUpload>" + "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>" for n, e in ps)
        + "</CompleteMultipartUpload>").encode("utf-8", "surrogatepass")),
    st.sampled_from([b"<Delete>", b"<!DOCTYPE x [<!ENTITY a 'b'>]><Delete/>", b"not xml"]),
)


@fuzz_settings(150)
@given(method=st.sampled_from(["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"]),
       bucket=buckets, key=st.one_of(st.none(), keys), query=queries, extra=headers,
       body_kind=st.sampled_from(["none", "bytes", "chunked", "xml"]), data=st.data())
async def test_s3_endpoint_answers_random_requests_cleanly(
        endpoint: tuple[Platform, int], method: str, bucket: str, key: str | None, query: dict[str, str],
        extra: dict[str, str], body_kind: str, data: st.DataObject) -> None:
    platform, port = endpoint
    if "uploadId" in query and query["uploadId"] == "UPLOAD":
        created = await raw_request(port, "POST", "/bucket/k?uploads")
        query["uploadId"] = created.body.split(b"<UploadId>")[1].split(b"</UploadId>")[0].decode()
    body = {"none": st.just(b""), "bytes": st.binary(max_size=64), "chunked": chunked_bodies(),
            "xml": xml_bodies}[body_kind]
    payload = data.draw(body)
    sent = dict(extra)
    if body_kind == "chunked":
        sent.update({"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "content-encoding": "aws-chunked"})
    if data.draw(st.booleans()) and "content-md5" not in sent:
        sent["content-md5"] = base64.b64encode(hashlib.md5(payload).digest()).decode()
    target = "/" + bucket + ("" if key is None else "/" + key)
    if query:
        target += "?" + "&".join(k if v == "" else f"{k}={v}" for k, v in query.items())
    before = snapshot(platform)
    response = await raw_request(port, method, target, sent, payload)
    assert response.status < 500 or response.status == 501, (response.status, response.body[:300])
    if response.status >= 400:
        if method != "HEAD":
            root = ET.fromstring(response.body)
            assert root.tag == "Error" and root.findtext("Code"), response.body[:300]
        assert snapshot(platform) == before, (response.status, response.body[:200])
