"""An S3-compatible endpoint over the local R2 buckets, for boto3 and ``aws s3``.

Path-style only (``http://127.0.0.1:<port>/<bucket>/<key>``), any credentials, any region
(clients use ``auto``, as with R2). It is served from the same ``R2Store`` as the bindings,
so writes are persisted exactly like binding writes and the running apps see them at once.
We implement the S3 subset ourselves instead of dispatching to moto's Flask app: moto's
responses would write into moto's state behind the store's back and skip persistence.

Supported: ListBuckets, CreateBucket, HeadBucket, GetBucketLocation, ListObjects (v1/v2,
prefix, delimiter, continuation, start-after, ``encoding-type=url``), Put/Get/Head/
DeleteObject, CopyObject (COPY/REPLACE metadata, cross-bucket), DeleteObjects,
conditional requests (304/412), single ranges (206), Content-MD5, multipart (create,
upload part, complete, abort, list parts), aws-chunked request bodies (what boto3
sends with trailing checksums), and Put/Get/DeleteBucketCors with CORS preflights and
response headers from those rules. Errors are S3 XML.

Bad requests get the S3 error R2 gives, never a 500 (docs/r2.md, "S3 endpoint: bad
requests"): keys are percent-decoded from the raw path as strict UTF-8 (``a%FFz`` is
``InvalidArgument``, not a key with U+FFFD in it), keys over 1024 bytes are
``InvalidObjectName``, a malformed ``aws-chunked`` body is ``InvalidRequest`` or
``IncompleteBody`` and is read chunk by chunk in bounded pieces, XML bodies are capped and
may not carry a DTD.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import functools
import hashlib
import re
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any
from collections.abc import AsyncIterator
from xml.sax.saxutils import escape

from aiohttp import web

from emulator.access import SAFE_METHODS, WILDCARD_IPS, HostAllowList
from emulator.bindings.r2 import cors
from emulator.bindings.r2.binding import (
    HTTP_FIELDS, THREAD_THRESHOLD, decode_cursor, encode_cursor, list_objects,
    parse_conditional)
from emulator.bindings.r2.errors import CorsConfigError, R2Error, S3Error

if TYPE_CHECKING:
    from emulator.bindings.r2.store import R2Store, StoredObject
    from emulator.clock import Clock

_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
# Digits are bounded so int() stays cheap (and under Python's 4300-digit limit).
_RANGE = re.compile(r"^bytes=(\d{0,100})-(\d{0,100})$")
# Sub-resources of the S3 API we do not implement: answering them as a plain GET/PUT of the
# bucket or object would hand clients the wrong document, so they get NotImplemented.
_UNSUPPORTED = frozenset({
    "acl", "tagging", "versioning", "versions", "retention", "legal-hold", "torrent", "restore",
    "select", "attributes", "policy", "policyStatus", "lifecycle", "website",
    "encryption", "replication", "notification", "logging", "accelerate", "requestPayment",
    "object-lock", "ownershipControls", "publicAccessBlock", "intelligent-tiering",
    "inventory", "metrics", "analytics",
})
# The CORS headers an allowed cross-origin request's response gets (request storage;
# typed keys exist from aiohttp 3.13 on).
_CORS_HEADERS: Any = (web.RequestKey("cors_headers", dict) if hasattr(web, "RequestKey")
                      else "cors_headers")
# R2 error code → (S3 code, HTTP status) as R2's S3 API reports them.
_S3_CODES: dict[str, tuple[str, int]] = {
    "NoSuchUpload": ("NoSuchUpload", 404),
    "InternalError": ("NoSuchUpload", 404),  # unknown upload id / key
    "InvalidPart": ("InvalidPart", 400),
    "EntityTooSmall": ("EntityTooSmall", 400),
    "BadUpload": ("InvalidPart", 400),
    "InvalidObjectName": ("InvalidObjectName", 400),
    "MetadataTooLarge": ("MetadataTooLarge", 400),
    "InvalidRange": ("InvalidRange", 416),
    "EntityTooLarge": ("EntityTooLarge", 400),
}


# An aws-chunked body declares each chunk's size; SDKs send 8 KiB–1 MiB chunks. A larger
# declaration is refused before any of it is read, and chunks are read in pieces of at most
# _READ_PIECE, so a lying header never makes us hold more than that.
MAX_CHUNK_SIZE = 16 * 1024 * 1024
_READ_PIECE = 1 << 20
# A chunk-size line (hex size, optional `;chunk-signature=<64 hex>`) or a trailer line.
_MAX_CHUNK_LINE = 4096
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_TRAILER_NAME = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# DeleteObjects takes at most 1000 keys of at most 1 KiB; CompleteMultipartUpload at most
# 10,000 parts. Either fits well inside this.
MAX_XML_BODY = 4 * 1024 * 1024
MAX_DELETE_KEYS = 1000


def _iso(ms: int) -> str:
    # Integer arithmetic (no float seconds, no datetime): a listing page formats 1,000,
    # and objects uploaded together share their second.
    return f"{_iso_second(ms // 1000)}.{ms % 1000:03d}Z"


@functools.lru_cache(maxsize=4096)
def _iso_second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def _http_date(ms: int) -> str:
    return email.utils.formatdate(ms / 1000, usegmt=True)


def _http_date_ms(value: str) -> int | None:
    try:
        return int(email.utils.parsedate_to_datetime(value).timestamp() * 1000)
    except (TypeError, ValueError, OverflowError):
        return None


def _xml(root: str, body: str) -> web.Response:
    text = f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{_NS}">{body}</{root}>'
    return web.Response(body=text.encode(), content_type="application/xml")


# Characters XML 1.0 cannot carry at all, not even as references (keys may hold them: clients
# that list such keys ask for encoding-type=url).
_NOT_XML = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _el(name: str, value: Any) -> str:
    return f"<{name}>{escape(_NOT_XML.sub(chr(0xFFFD), str(value)))}</{name}>"


def _contents(key: str, obj: StoredObject) -> str:
    """One ``<Contents>`` of a listing, as ``_el`` would write it (a page has 1,000 of them:
    the etag is hex and needs no escaping, the key only when it holds ``&<>``)."""
    key = _NOT_XML.sub("\ufffd", key)  # what XML 1.0 cannot carry, as ``_el`` replaces it
    if "&" in key or "<" in key or ">" in key:
        key = escape(key)
    return (f"<Contents><Key>{key}</Key><LastModified>{_iso(obj.uploaded)}</LastModified>"
            f'<ETag>"{obj.etag}"</ETag><Size>{obj.size}</Size>'
            "<StorageClass>STANDARD</StorageClass></Contents>")


def _malformed_chunked(why: str) -> S3Error:
    return S3Error("InvalidRequest", f"The aws-chunked request body is malformed: {why}.", 400)


def _incomplete_body(why: str) -> S3Error:
    return S3Error("IncompleteBody", f"The request body ended early: {why}.", 400)


class _ChunkedReader:
    """Bounded reads over a request body stream: lines of limited length, pieces of data."""

    def __init__(self, content: Any) -> None:
        self.content = content
        self.buffer = bytearray()

    async def _fill(self) -> bool:
        more = await self.content.read(_READ_PIECE)
        self.buffer += more
        return bool(more)

    async def line(self, what: str) -> bytes | None:
        """The next CRLF-terminated line without its CRLF; None at the end of the body."""
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0:
                if end == 0 or self.buffer[end - 1] != 0x0D:
                    raise _malformed_chunked(f"the {what} line does not end with CRLF")
                line = bytes(self.buffer[:end - 1])
                del self.buffer[:end + 1]
                return line
            if len(self.buffer) > _MAX_CHUNK_LINE:
                raise _malformed_chunked(f"the {what} line is longer than {_MAX_CHUNK_LINE} bytes")
            if not await self._fill():
                if self.buffer:
                    raise _incomplete_body(f"the {what} line is cut off")
                return None

    async def piece(self, limit: int) -> bytes:
        """Up to ``limit`` bytes (at least one); empty only at the end of the body."""
        if not self.buffer and not await self._fill():
            return b""
        piece = bytes(self.buffer[:limit])
        del self.buffer[:limit]
        return piece

    async def at_end(self) -> bool:
        return not self.buffer and not await self._fill()


async def _aws_chunked(content: Any, decoded_length: int | None) -> AsyncIterator[bytes]:
    """Decode an ``aws-chunked`` body: ``<hex>[;ext]\\r\\n<data>\\r\\n`` … ``0[;ext]\\r\\n``
    ``[<trailer>:<value>\\r\\n]…\\r\\n``, checking every part of the framing and, when given,
    ``x-amz-decoded-content-length``. Data is yielded in pieces of at most 1 MiB as it
    arrives; trailers (checksums) are checked for form only: R2 does not need them."""
    reader = _ChunkedReader(content)
    total = 0
    while True:
        line = await reader.line("chunk size")
        if line is None:
            raise _incomplete_body("the final zero-length chunk is missing")
        size_text = line.split(b";", 1)[0].strip()
        if not _CHUNK_SIZE.fullmatch(size_text):
            raise _malformed_chunked(f"{size_text[:32]!r} is not a hexadecimal chunk size")
        size = int(size_text, 16)
        if size == 0:
            break
        if size > MAX_CHUNK_SIZE:
            raise _malformed_chunked(f"a chunk of {size} bytes is larger than the {MAX_CHUNK_SIZE} "
                                     "bytes cf-emulator accepts")
        total += size
        if decoded_length is not None and total > decoded_length:
            raise S3Error("IncompleteBody", f"The chunks hold more than the {decoded_length} bytes "
                          "x-amz-decoded-content-length declares.", 400)
        remaining = size
        while remaining:
            piece = await reader.piece(min(remaining, _READ_PIECE))
            if not piece:
                raise _incomplete_body(f"a chunk of {size} bytes is cut off")
            remaining -= len(piece)
            yield piece
        ending = await reader.piece(2)
        if len(ending) == 1:
            ending += await reader.piece(1)
        if ending != b"\r\n":
            raise _malformed_chunked(f"the {size}-byte chunk is not followed by CRLF")
    while True:  # trailers, up to an empty line (or the end of the body)
        line = await reader.line("trailer")
        if not line:
            break
        name, colon, _value = line.partition(b":")
        if not colon or not _TRAILER_NAME.fullmatch(name.strip()):
            raise _malformed_chunked(f"{line[:40]!r} is not a trailer (name: value)")
    if not await reader.at_end():
        raise _malformed_chunked("data follows the final chunk")
    if decoded_length is not None and total != decoded_length:
        raise _incomplete_body(f"the chunks hold {total} bytes, x-amz-decoded-content-length "
                               f"declares {decoded_length}")


def _strict_unquote(text: str, what: str) -> str:
    """Percent-decode as strict UTF-8: invalid sequences are refused rather than mangled
    into U+FFFD (which would make ``a%FFz`` and ``a%FEz`` the same key)."""
    raw = urllib.parse.unquote_to_bytes(text.encode("utf-8", "surrogateescape"))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise S3Error("InvalidArgument", f"The {what} is not valid UTF-8 once percent-decoded.",
                      400) from None


def _bucket_and_key(raw_path: str) -> tuple[str, str | None]:
    """Bucket and key from the raw request target (``request.match_info`` is already decoded,
    leniently, and ``..`` may have been resolved: keys need the raw path)."""
    path, _, query = raw_path.partition("?")
    _strict_unquote(query, "query string")
    parts = path.lstrip("/").split("/", 1)
    bucket = _strict_unquote(parts[0], "bucket name") if parts[0] else ""
    key = _strict_unquote(parts[1], "object key") if len(parts) > 1 and parts[1] != "" else None
    return bucket, key


async def _read_small_body(request: web.Request) -> bytes:
    """An XML document's body, refused past ``MAX_XML_BODY`` (the app's own limit is 1 TiB,
    for object uploads)."""
    body = bytearray()
    while True:
        piece = await request.content.read(_READ_PIECE)
        if not piece:
            break
        body += piece
        if len(body) > MAX_XML_BODY:
            raise S3Error("MaxMessageLengthExceeded", "Your request was too big.", 400)
    return bytes(body)


async def _read_xml(request: web.Request) -> ET.Element:
    """A small XML request body (DeleteObjects, CompleteMultipartUpload), parsed safely."""
    body = await _read_small_body(request)
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        # S3 documents never need a DTD; entities are how XML bombs work.
        raise S3Error("MalformedXML", "The XML you provided was not well-formed.", 400)
    try:
        # Bounded and DTD-free (above); ElementTree never fetches external entities.
        return ET.fromstring(body)  # noqa: S314 - see the comment above
    except ET.ParseError:
        raise S3Error("MalformedXML", "The XML you provided was not well-formed.", 400) from None


_STORED_HEADERS = frozenset(h.lower() for h in HTTP_FIELDS.values())


def _is_utf8_text(text: str) -> bool:
    """aiohttp hands header bytes that are not UTF-8 over as lone surrogates."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _metadata_from_headers(request: web.Request) -> tuple[dict[str, Any], dict[str, str]]:
    for name, value in request.headers.items():
        if (name.lower() in _STORED_HEADERS or name.lower().startswith("x-amz-meta-")) and \
                not _is_utf8_text(name + value):
            raise S3Error("InvalidArgument", f"The {name} header is not valid UTF-8.", 400)
    http: dict[str, Any] = {}
    for field, header in HTTP_FIELDS.items():
        found = request.headers.get(header)
        if found is None:
            continue
        value = found
        if field == "contentEncoding":
            # boto3 adds aws-chunked for framing; it is not part of the object.
            value = ",".join(v for v in (p.strip() for p in value.split(",")) if v != "aws-chunked")
            if not value:
                continue
        if field == "cacheExpiry":
            try:
                http[field] = int(email.utils.parsedate_to_datetime(value).timestamp() * 1000)
            except (TypeError, ValueError):
                continue
            continue
        http[field] = value
    custom = {k[len("x-amz-meta-"):].lower(): v for k, v in request.headers.items()
              if k.lower().startswith("x-amz-meta-")}
    return http, custom


def _object_headers(obj: StoredObject) -> dict[str, str]:
    headers = {
        "ETag": f'"{obj.etag}"',
        "Last-Modified": _http_date(obj.uploaded),
        "Accept-Ranges": "bytes",
        "Content-Type": obj.http_metadata.get("contentType", "application/octet-stream"),
    }
    for field, header in HTTP_FIELDS.items():
        if field in obj.http_metadata and field != "contentType":
            value = obj.http_metadata[field]
            headers[header] = _http_date(value) if field == "cacheExpiry" else str(value)
    for k, v in obj.custom_metadata.items():
        headers[f"x-amz-meta-{k}"] = v
    return headers


class S3Endpoint:
    """The aiohttp application serving the S3 API over an ``R2Store``.

    Browsers are answered as R2 answers them (docs/r2.md, "CORS"; docs/security.md): only
    ``hosts`` may be named in ``Host`` (DNS-rebinding protection), preflights are answered
    from the bucket's CORS rules, and a request carrying an ``Origin`` gets CORS headers when
    a rule allows it. Since this endpoint checks no signatures, a state-changing request
    whose ``Origin`` no rule allows is refused outright (R2 would refuse it for want of a
    valid signature), and bucket CORS settings are never changed from a browser.
    """

    def __init__(self, store: R2Store, clock: Clock, hosts: HostAllowList | None = None) -> None:
        self.store = store
        self.clock = clock
        self.hosts = hosts or HostAllowList()
        self.app = web.Application(client_max_size=1024**4)
        # `[\s\S]`, not `.`: a key may hold a newline (%0A), which `.` would not match.
        self.app.router.add_route("*", r"/{tail:[\s\S]*}", self._dispatch)
        self.app.on_response_prepare.append(self._add_cors_headers)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.raw_path.split("?", 1)[0]
        try:
            host = request.headers.get("Host")
            if not self.hosts.allows(host):
                raise S3Error("AccessDenied", f"Host {host!r} is not allowed (DNS-rebinding protection): "
                              f"use {self.hosts.describe()}. See docs/security.md.", 403, path)
            bucket, key = _bucket_and_key(request.raw_path)
            if request.method == "OPTIONS":
                return self._preflight(request, bucket)
            origin = request.headers.get("Origin")
            if origin is not None:
                self._check_origin(request, bucket, origin)
            unsupported = _UNSUPPORTED.intersection(request.query)
            if unsupported:
                raise S3Error("NotImplemented", f"cf-emulator does not implement the "
                              f"'{sorted(unsupported)[0]}' sub-resource.", 501, path)
            if not bucket:
                if request.method == "GET":
                    return self._list_buckets()
                raise S3Error("MethodNotAllowed", "The specified method is not allowed.", 405)
            if key is None:
                return await self._bucket_op(request, bucket)
            return await self._object_op(request, bucket, key)
        except S3Error as exc:
            return self._error(request, exc)
        except R2Error as exc:
            code, status = _S3_CODES.get(exc.code, (exc.code, exc.status))
            return self._error(request, S3Error(code, exc.detail, status, path))

    def _error(self, request: web.Request, exc: S3Error) -> web.Response:
        if request.method == "HEAD":
            return web.Response(status=exc.status)
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{_el("Code", exc.code)}'
                f'{_el("Message", exc.message)}{_el("Resource", exc.resource)}'
                f'{_el("RequestId", uuid.uuid4().hex[:16])}</Error>')
        return web.Response(status=exc.status, body=body.encode(), content_type="application/xml")

    # --- CORS -----------------------------------------------------------------------------
    def _rules(self, bucket: str) -> list[cors.CorsRule]:
        if not bucket or not self.store.has_bucket(bucket):
            return []
        return cors.rules_from_stored(self.store.bucket_cors(bucket))

    def _preflight(self, request: web.Request, bucket: str) -> web.Response:
        """An ``OPTIONS`` preflight, answered from the bucket's rules as S3 and R2 do."""
        origin = request.headers.get("Origin")
        method = request.headers.get("Access-Control-Request-Method")
        if origin is None or method is None:
            raise S3Error("BadRequest", "Insufficient information. Origin request header needed.", 400)
        if bucket and not self.store.has_bucket(bucket):
            raise S3Error("NoSuchBucket", "The specified bucket does not exist", 404, bucket)
        rules = self._rules(bucket)
        if not rules:
            raise S3Error("AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.", 403)
        headers = cors.requested_headers(request.headers.get("Access-Control-Request-Headers"))
        rule = cors.find_rule(rules, origin, method, headers)
        if rule is None:
            raise S3Error("AccessForbidden", "CORSResponse: This CORS request is not allowed. This is "
                          "usually because the evalution of Origin, request method / "
                          "Access-Control-Request-Method or Access-Control-Request-Headers are not "
                          "whitelisted by the resource's CORS spec.", 403)
        return web.Response(status=200, headers=cors.preflight_headers(rule, origin, headers))

    def _check_origin(self, request: web.Request, bucket: str, origin: str) -> None:
        """Note the CORS headers an allowed cross-origin request gets; refuse a write no rule
        allows (a web page must not change local state behind the developer's back)."""
        rule = cors.find_rule(self._rules(bucket), origin, request.method)
        state_changing = request.method not in SAFE_METHODS
        if state_changing and "cors" in request.query:
            raise S3Error("AccessDenied", "A bucket's CORS configuration cannot be changed from a "
                          "browser; use boto3, the AWS CLI or `cf-emulator r2 bucket cors`.", 403, bucket)
        if rule is not None:
            request[_CORS_HEADERS] = cors.response_headers(rule, origin)
        elif state_changing:
            raise S3Error("AccessDenied", f"Cross-origin {request.method} from {origin} refused: no CORS "
                          f"rule of bucket {bucket!r} allows it (see docs/r2.md#cors).", 403, bucket)

    @staticmethod
    async def _add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
        headers = request.get(_CORS_HEADERS)
        if headers:
            response.headers.update(headers)

    async def _bucket_cors(self, request: web.Request, bucket: str) -> web.Response:
        """``PutBucketCors`` / ``GetBucketCors`` / ``DeleteBucketCors`` (``?cors``)."""
        self._need_bucket(bucket)
        if request.method == "GET":
            rules = self._rules(bucket)
            if not rules:
                raise S3Error("NoSuchCORSConfiguration", "The CORS configuration does not exist", 404, bucket)
            return _xml("CORSConfiguration", cors.rules_to_xml(rules))
        if request.method == "DELETE":
            self.store.set_bucket_cors(bucket, None)
            return web.Response(status=204)
        if request.method == "PUT":
            body = await _read_small_body(request)
            md5_header = request.headers.get("content-md5")
            if md5_header:
                try:
                    expected = base64.b64decode(md5_header, validate=True)
                except (binascii.Error, ValueError):
                    raise S3Error("InvalidDigest", "The Content-MD5 you specified was invalid.", 400) from None
                if expected != hashlib.md5(body, usedforsecurity=False).digest():
                    raise S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.", 400)
            try:
                rules = cors.rules_from_xml(body)
            except CorsConfigError as exc:
                raise S3Error(exc.code, str(exc), 400, bucket) from None
            self.store.set_bucket_cors(bucket, [r.to_s3() for r in rules])
            return web.Response(status=200)
        raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405, bucket)

    def _need_bucket(self, bucket: str) -> None:
        if not self.store.has_bucket(bucket):
            raise S3Error("NoSuchBucket", "The specified bucket does not exist", 404, bucket)

    # --- service / bucket -----------------------------------------------------------
    def _list_buckets(self) -> web.Response:
        items = "".join(
            f"<Bucket>{_el('Name', b)}"
            f"{_el('CreationDate', _iso(int(self.store.bucket_created(b).timestamp() * 1000)))}</Bucket>"
            for b in self.store.bucket_names())
        return _xml("ListAllMyBucketsResult",
                    f"<Owner>{_el('ID', 'cf-emulator')}{_el('DisplayName', 'cf-emulator')}</Owner>"
                    f"<Buckets>{items}</Buckets>")

    async def _bucket_op(self, request: web.Request, bucket: str) -> web.StreamResponse:
        q = request.query
        if "cors" in q:
            return await self._bucket_cors(request, bucket)
        if request.method == "PUT":
            if not _BUCKET_NAME.match(bucket):
                raise S3Error("InvalidBucketName", "The specified bucket is not valid.", 400, bucket)
            await request.read()
            self.store.ensure_bucket(bucket)
            return web.Response(status=200, headers={"Location": f"/{bucket}"})
        self._need_bucket(bucket)
        if request.method == "HEAD":
            return web.Response(status=200, headers={"x-amz-bucket-region": "auto"})
        if request.method == "GET" and "location" in q:
            return _xml("LocationConstraint", "auto")
        if request.method == "GET" and "uploads" in q:
            items = "".join(f"<Upload>{_el('Key', u.key)}{_el('UploadId', u.upload_id)}</Upload>"
                            for u in self.store.uploads(bucket))
            return _xml("ListMultipartUploadsResult", f"{_el('Bucket', bucket)}{items}")
        if request.method == "GET":
            return self._list_objects(request, bucket)
        if request.method == "POST" and "delete" in q:
            return await self._delete_objects(request, bucket)
        raise S3Error("NotImplemented", "A header or query you provided implies functionality "
                      "that is not implemented.", 501, bucket)

    def _list_objects(self, request: web.Request, bucket: str) -> web.Response:
        q = request.query
        v2 = q.get("list-type") == "2"
        prefix = q.get("prefix", "")
        delimiter = q.get("delimiter", "")
        url = q.get("encoding-type") == "url"
        try:
            max_keys = int(q.get("max-keys", "1000"))
        except ValueError:
            raise S3Error("InvalidArgument", "Provided max-keys not an integer or within integer range",
                          400) from None
        if max_keys < 0:
            raise S3Error("InvalidArgument", "max-keys must be non-negative", 400)
        enc = (lambda s: urllib.parse.quote(s, safe="/")) if url else (lambda s: s)
        cursor = start_after = None
        if v2:
            cursor = q.get("continuation-token")
            start_after = q.get("start-after")
        else:
            start_after = q.get("marker")
        if max_keys == 0:
            page: dict[str, Any] = {"objects": [], "delimitedPrefixes": [], "truncated": False}
        else:
            page = list_objects(self.store, bucket, prefix=prefix, delimiter=delimiter,
                                cursor=cursor, start_after=start_after, limit=min(max_keys, 1000))
        contents = "".join(_contents(enc(o.key), o._stored) for o in page["objects"])
        prefixes = "".join(f"<CommonPrefixes>{_el('Prefix', enc(p))}</CommonPrefixes>"
                           for p in page["delimitedPrefixes"])
        head = (f"{_el('Name', bucket)}{_el('Prefix', enc(prefix))}{_el('MaxKeys', max_keys)}"
                f"{_el('IsTruncated', str(page['truncated']).lower())}")
        if delimiter:
            head += _el("Delimiter", enc(delimiter))
        if url:
            head += _el("EncodingType", "url")
        if v2:
            head += _el("KeyCount", len(page["objects"]) + len(page["delimitedPrefixes"]))
            if cursor:
                head += _el("ContinuationToken", cursor)
            if start_after:
                head += _el("StartAfter", enc(start_after))
            if page["truncated"]:
                head += _el("NextContinuationToken", page["cursor"])
        else:
            head += _el("Marker", enc(start_after or ""))
            if page["truncated"]:
                head += _el("NextMarker", enc(decode_cursor(page["cursor"])))
        return _xml("ListBucketResult", head + contents + prefixes)

    async def _delete_objects(self, request: web.Request, bucket: str) -> web.Response:
        root = await _read_xml(request)
        keys = [el.text or "" for el in root.iter() if el.tag.endswith("Key")]
        if len(keys) > MAX_DELETE_KEYS:
            raise S3Error("MalformedXML", "The XML you provided was not well-formed or did not "
                          "validate against our published schema.", 400)
        if any(len(k.encode("utf-8", "surrogatepass")) > 1024 for k in keys):
            raise S3Error("InvalidObjectName", "The specified object name is not valid.", 400)
        quiet = any((el.text or "").lower() == "true" for el in root.iter() if el.tag.endswith("Quiet"))
        self.store.delete(bucket, keys)
        body = "" if quiet else "".join(f"<Deleted>{_el('Key', k)}</Deleted>" for k in keys)
        return _xml("DeleteResult", body)

    # --- objects --------------------------------------------------------------------
    async def _object_op(self, request: web.Request, bucket: str, key: str) -> web.StreamResponse:
        self._need_bucket(bucket)
        if len(key.encode()) > 1024:  # R2: InvalidObjectName (docs/r2.md)
            raise S3Error("InvalidObjectName", "The specified object name is not valid.", 400, key[:64])
        q = request.query
        m = request.method
        if m == "PUT" and "uploadId" in q and "partNumber" in q:
            return await self._upload_part(request, bucket, key)
        if m == "PUT" and "x-amz-copy-source" in request.headers:
            return await self._copy(request, bucket, key)
        if m in ("PUT", "POST") and not ("uploads" in q or "uploadId" in q):
            return await self._put(request, bucket, key)  # POST-on-key = PutObject (R2 quirk)
        if m == "POST" and "uploads" in q:
            http, custom = _metadata_from_headers(request)
            upload_id = self.store.create_upload(bucket, key, http, custom)
            return _xml("InitiateMultipartUploadResult",
                        f"{_el('Bucket', bucket)}{_el('Key', key)}{_el('UploadId', upload_id)}")
        if m == "POST" and "uploadId" in q:
            return await self._complete(request, bucket, key)
        if m == "DELETE" and "uploadId" in q:
            self.store.abort_upload(bucket, q["uploadId"], key)
            return web.Response(status=204)
        if m == "GET" and "uploadId" in q:
            parts = self.store.list_parts(bucket, q["uploadId"])
            items = "".join(f"<Part>{_el('PartNumber', p.part_number)}{_el('ETag', chr(34) + p.etag + chr(34))}"
                            f"{_el('Size', p.size)}</Part>" for p in parts.values())
            return _xml("ListPartsResult", f"{_el('Bucket', bucket)}{_el('Key', key)}"
                        f"{_el('UploadId', q['uploadId'])}{items}")
        if m in ("GET", "HEAD"):
            return await self._get(request, bucket, key)
        if m == "DELETE":
            self.store.delete(bucket, [key])
            return web.Response(status=204)
        raise S3Error("NotImplemented", "Not implemented", 501, key)

    async def _body_chunks(self, request: web.Request) -> AsyncIterator[bytes]:
        sha = request.headers.get("x-amz-content-sha256", "")
        encoding = request.headers.get("content-encoding", "")
        if sha.startswith("STREAMING-") or "aws-chunked" in encoding:
            declared = request.headers.get("x-amz-decoded-content-length")
            if declared is not None and not (declared.isascii() and declared.isdigit() and len(declared) <= 20):
                raise S3Error("InvalidArgument", "x-amz-decoded-content-length must be a "
                              "non-negative integer.", 400)
            async for chunk in _aws_chunked(request.content, int(declared) if declared is not None else None):
                yield chunk
            return
        async for chunk in request.content.iter_chunked(1 << 20):
            yield chunk

    async def _receive(self, request: web.Request, bucket: str) -> Any:
        staged = self.store.stage(bucket)
        try:
            async for chunk in self._body_chunks(request):
                staged.write(chunk)
            staged.finish()
        except BaseException:
            staged.discard()
            raise
        md5_header = request.headers.get("content-md5")
        if md5_header:
            try:
                expected = base64.b64decode(md5_header, validate=True)
            except (binascii.Error, ValueError):
                staged.discard()
                raise S3Error("InvalidDigest", "The Content-MD5 you specified was invalid.", 400) from None
            if expected != staged.digest("md5"):
                staged.discard()
                raise S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.", 400)
        return staged

    async def _put(self, request: web.Request, bucket: str, key: str) -> web.Response:
        http, custom = _metadata_from_headers(request)
        cond = None
        if any(h in request.headers for h in ("if-match", "if-none-match")):
            # A date that does not parse is ignored, as HTTP says; the etag conditions stand.
            usable = {k: v for k, v in request.headers.items()
                      if k.lower() in ("if-match", "if-none-match") or _http_date_ms(v) is not None}
            cond = parse_conditional(usable)
        staged = await self._receive(request, bucket)
        stored = await self._run(staged.size, lambda: self.store.put(
            bucket, key, staged, http_metadata=http, custom_metadata=custom,
            checksums={"md5": staged.hexdigest("md5")}, uploaded=self.clock.now_ms(),
            condition=cond.test if cond else None))
        if stored is None:
            raise S3Error("PreconditionFailed",
                          "At least one of the pre-conditions you specified did not hold", 412, key)
        return web.Response(status=200, headers={"ETag": f'"{stored.etag}"'})

    async def _run(self, size: int, fn: Any) -> Any:
        if size > THREAD_THRESHOLD:
            return await asyncio.get_running_loop().run_in_executor(None, fn)
        return fn()

    async def _copy(self, request: web.Request, bucket: str, key: str) -> web.Response:
        source = _strict_unquote(request.headers["x-amz-copy-source"].split("?", 1)[0], "copy source")
        src_bucket, _, src_key = source.lstrip("/").partition("/")
        if not self.store.has_bucket(src_bucket):
            raise S3Error("NoSuchBucket", "The specified bucket does not exist", 404, src_bucket)
        opened = self.store.open(src_bucket, src_key)
        if opened is None:
            raise S3Error("NoSuchKey", "The specified key does not exist.", 404, src_key)
        src, reader = opened
        staged = self.store.stage(bucket)

        def copy_bytes() -> None:
            try:
                for chunk in reader.chunks(0, src.size):
                    staged.write(chunk)
                staged.finish()
            finally:
                reader.close()

        await self._run(src.size, copy_bytes)
        if request.headers.get("x-amz-metadata-directive", "COPY").upper() == "REPLACE":
            http, custom = _metadata_from_headers(request)
        else:
            http, custom = dict(src.http_metadata), dict(src.custom_metadata)
        stored = await self._run(src.size, lambda: self.store.put(
            bucket, key, staged, http_metadata=http, custom_metadata=custom,
            checksums={"md5": staged.hexdigest("md5")}, uploaded=self.clock.now_ms()))
        return _xml("CopyObjectResult", f"{_el('LastModified', _iso(stored.uploaded))}"
                    f"{_el('ETag', chr(34) + stored.etag + chr(34))}")

    async def _upload_part(self, request: web.Request, bucket: str, key: str) -> web.Response:
        try:
            number = int(request.query["partNumber"])
        except ValueError:
            raise S3Error("InvalidArgument", "Part number must be an integer", 400) from None
        if not 1 <= number <= 10000:
            raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive", 400)
        staged = await self._receive(request, bucket)
        try:
            part = await self._run(staged.size, lambda: self.store.put_part(
                bucket, request.query["uploadId"], key, number, staged))
        finally:
            staged.discard()
        return web.Response(status=200, headers={"ETag": f'"{part.etag}"'})

    async def _complete(self, request: web.Request, bucket: str, key: str) -> web.Response:
        root = await _read_xml(request)
        parts: list[tuple[int, str]] = []
        for part in root:
            if not part.tag.endswith("Part"):
                continue
            fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "") for child in part}
            try:
                number = int(fields.get("PartNumber", ""))
            except ValueError:
                raise S3Error("MalformedXML", "The XML you provided was not well-formed.", 400) from None
            parts.append((number, fields.get("ETag", "").strip('"')))
        stored = self.store.complete_upload(bucket, request.query["uploadId"], key, parts,
                                            self.clock.now_ms())
        return _xml("CompleteMultipartUploadResult",
                    f"{_el('Location', f'/{bucket}/{key}')}{_el('Bucket', bucket)}{_el('Key', key)}"
                    f"{_el('ETag', chr(34) + stored.etag + chr(34))}")

    async def _get(self, request: web.Request, bucket: str, key: str) -> web.StreamResponse:
        opened = self.store.open(bucket, key)
        if opened is None:
            raise S3Error("NoSuchKey", "The specified key does not exist.", 404, key)
        obj, reader = opened
        try:
            status = self._precondition_status(request, obj)
            headers = _object_headers(obj)
            if status is not None:
                if status == 412:
                    raise S3Error("PreconditionFailed", "At least one of the pre-conditions "
                                  "you specified did not hold", 412, key)
                return web.Response(status=304, headers={"ETag": headers["ETag"],
                                                         "Last-Modified": headers["Last-Modified"]})
            offset, length, status = 0, obj.size, 200
            rng = request.headers.get("range")
            if rng:
                # RFC 9110: one satisfiable range → 206; an unsatisfiable one → 416; a header
                # that does not parse, a reversed range or several ranges → the whole object.
                m = _RANGE.match(rng.replace(" ", ""))
                if m and (m.group(1) or m.group(2)) and not (
                        m.group(1) and m.group(2) and int(m.group(2)) < int(m.group(1))):
                    if not m.group(1):
                        length = min(int(m.group(2)), obj.size)
                        offset = obj.size - length
                    else:
                        offset = int(m.group(1))
                        end = min(int(m.group(2)), obj.size - 1) if m.group(2) else obj.size - 1
                        length = end - offset + 1
                    if offset >= obj.size or length <= 0:
                        raise S3Error("InvalidRange", "The requested range is not satisfiable",
                                      416, key[:64])
                    status = 206
                    headers["Content-Range"] = f"bytes {offset}-{offset + length - 1}/{obj.size}"
            headers["Content-Length"] = str(length)
            if request.method == "HEAD":
                return web.Response(status=status, headers=headers)
            if length <= THREAD_THRESHOLD:
                return web.Response(status=status, headers=headers, body=reader.read(offset, length))
            response = web.StreamResponse(status=status, headers=headers)
            await response.prepare(request)
            loop = asyncio.get_running_loop()
            for start in range(offset, offset + length, 1 << 20):
                n = min(1 << 20, offset + length - start)
                await response.write(await loop.run_in_executor(None, reader.read, start, n))
            await response.write_eof()
            return response
        finally:
            reader.close()

    def _precondition_status(self, request: web.Request, obj: StoredObject) -> int | None:
        """RFC 7232 order: If-Match, If-Unmodified-Since → 412; If-None-Match,
        If-Modified-Since → 304."""
        h = request.headers
        if "if-match" in h and not parse_conditional({"if-match": h["if-match"]}).test(obj):  # type: ignore[union-attr]  # a header value always parses to a Conditional
            return 412
        if "if-match" not in h and "if-unmodified-since" in h:
            try:
                cond = parse_conditional({"if-unmodified-since": h["if-unmodified-since"]})
            except (TypeError, ValueError):
                cond = None
            if cond is not None and (obj.uploaded - obj.uploaded % 1000) > cond.uploaded_before:  # type: ignore[operator]  # an If-Unmodified-Since Conditional has uploaded_before
                return 412
        if "if-none-match" in h:
            if not parse_conditional({"if-none-match": h["if-none-match"]}).test(obj):  # type: ignore[union-attr]  # a header value always parses to a Conditional
                return 304
        elif "if-modified-since" in h:
            try:
                cond = parse_conditional({"if-modified-since": h["if-modified-since"]})
            except (TypeError, ValueError):
                cond = None
            if cond is not None and (obj.uploaded - obj.uploaded % 1000) <= cond.uploaded_after:  # type: ignore[operator]  # an If-Modified-Since Conditional has uploaded_after
                return 304
        return None


class S3Server:
    """Runs ``S3Endpoint`` on its own port (``platform.s3_port``; 0 = a free port)."""

    def __init__(self, store: R2Store, clock: Clock, host: str, port: int,
                 hosts: HostAllowList | None = None) -> None:
        self.endpoint = S3Endpoint(store, clock, hosts or HostAllowList(host))
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        self._runner = web.AppRunner(self.endpoint.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = site._server.sockets  # type: ignore[union-attr]  # aiohttp internals: the site has started, so its server is set
        self.port = sockets[0].getsockname()[1]
        host = "127.0.0.1" if self.host in WILDCARD_IPS else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


__all__ = ["S3Endpoint", "S3Server", "encode_cursor"]
