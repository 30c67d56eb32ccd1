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
upload part, complete, abort, list parts) and aws-chunked request bodies (what boto3
sends with trailing checksums). Errors are S3 XML.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import functools
import re
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any, AsyncIterator
from xml.sax.saxutils import escape

from aiohttp import web

from emulator.bindings.r2.binding import (
    HTTP_FIELDS, THREAD_THRESHOLD, decode_cursor, encode_cursor, list_objects,
    parse_conditional)
from emulator.bindings.r2.errors import R2Error

if TYPE_CHECKING:
    from emulator.bindings.r2.store import R2Store, StoredObject
    from emulator.clock import Clock

_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# Sub-resources of the S3 API we do not implement: answering them as a plain GET/PUT of the
# bucket or object would hand clients the wrong document, so they get NotImplemented.
_UNSUPPORTED = frozenset({
    "acl", "tagging", "versioning", "versions", "retention", "legal-hold", "torrent", "restore",
    "select", "attributes", "policy", "policyStatus", "cors", "lifecycle", "website",
    "encryption", "replication", "notification", "logging", "accelerate", "requestPayment",
    "object-lock", "ownershipControls", "publicAccessBlock", "intelligent-tiering",
    "inventory", "metrics", "analytics",
})
# R2 error code → (S3 code, HTTP status) as R2's S3 API reports them.
_S3_CODES: dict[str, tuple[str, int]] = {
    "NoSuchUpload": ("NoSuchUpload", 404),
    "InternalError": ("NoSuchUpload", 404),  # unknown upload id / key
    "InvalidPart": ("InvalidPart", 400),
    "EntityTooSmall": ("EntityTooSmall", 400),
    "BadUpload": ("InvalidPart", 400),
    "InvalidObjectName": ("KeyTooLongError", 400),
    "MetadataTooLarge": ("MetadataTooLarge", 400),
    "InvalidRange": ("InvalidRange", 416),
    "EntityTooLarge": ("EntityTooLarge", 400),
}


class S3Error(Exception):
    def __init__(self, code: str, message: str, status: int, resource: str = "") -> None:
        super().__init__(message)
        self.code, self.message, self.status, self.resource = code, message, status, resource


def _iso(ms: int) -> str:
    # Integer arithmetic (no float seconds, no datetime): a listing page formats 1,000,
    # and objects uploaded together share their second.
    return f"{_iso_second(ms // 1000)}.{ms % 1000:03d}Z"


@functools.lru_cache(maxsize=4096)
def _iso_second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def _http_date(ms: int) -> str:
    return email.utils.formatdate(ms / 1000, usegmt=True)


def _xml(root: str, body: str) -> web.Response:
    text = f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{_NS}">{body}</{root}>'
    return web.Response(body=text.encode(), content_type="application/xml")


def _el(name: str, value: Any) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


def _contents(key: str, obj: StoredObject) -> str:
    """One ``<Contents>`` of a listing, as ``_el`` would write it (a page has 1,000 of them:
    the etag is hex and needs no escaping, the key only when it holds ``&<>``)."""
    if "&" in key or "<" in key or ">" in key:
        key = escape(key)
    return (f"<Contents><Key>{key}</Key><LastModified>{_iso(obj.uploaded)}</LastModified>"
            f'<ETag>"{obj.etag}"</ETag><Size>{obj.size}</Size>'
            "<StorageClass>STANDARD</StorageClass></Contents>")


async def _aws_chunked(content: Any) -> AsyncIterator[bytes]:
    """Decode an ``aws-chunked`` body: ``<hex>[;ext]\\r\\n<data>\\r\\n`` … ``0\\r\\n<trailers>``."""
    while True:
        line = (await content.readline()).strip()
        if not line:
            if content.at_eof():
                return
            continue
        size = int(line.split(b";", 1)[0], 16)
        if size == 0:
            return  # trailers (checksums) follow; R2 does not need them
        data = await content.readexactly(size)
        await content.readexactly(2)
        yield data


def _metadata_from_headers(request: web.Request) -> tuple[dict[str, Any], dict[str, str]]:
    http: dict[str, Any] = {}
    for field, header in HTTP_FIELDS.items():
        value = request.headers.get(header)
        if value is None:
            continue
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
    """The aiohttp application serving the S3 API over an ``R2Store``."""

    def __init__(self, store: R2Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.app = web.Application(client_max_size=1024**4)
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.raw_path.split("?", 1)[0]
        parts = path.lstrip("/").split("/", 1)
        bucket = urllib.parse.unquote(parts[0]) if parts[0] else ""
        key = urllib.parse.unquote(parts[1]) if len(parts) > 1 and parts[1] != "" else None
        try:
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
        try:
            root = ET.fromstring(await request.read())
        except ET.ParseError:
            raise S3Error("MalformedXML", "The XML you provided was not well-formed.", 400) from None
        keys = [el.text or "" for el in root.iter() if el.tag.endswith("Key")]
        quiet = any((el.text or "").lower() == "true" for el in root.iter() if el.tag.endswith("Quiet"))
        self.store.delete(bucket, keys)
        body = "" if quiet else "".join(f"<Deleted>{_el('Key', k)}</Deleted>" for k in keys)
        return _xml("DeleteResult", body)

    # --- objects --------------------------------------------------------------------
    async def _object_op(self, request: web.Request, bucket: str, key: str) -> web.StreamResponse:
        self._need_bucket(bucket)
        if len(key.encode()) > 1024:
            raise S3Error("KeyTooLongError", "Your key is too long", 400, key)
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
            async for chunk in _aws_chunked(request.content):
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
        cond = parse_conditional(request.headers) if any(
            h in request.headers for h in ("if-match", "if-none-match")) else None
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
        source = urllib.parse.unquote(request.headers["x-amz-copy-source"].split("?", 1)[0])
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
        try:
            root = ET.fromstring(await request.read())
        except ET.ParseError:
            raise S3Error("MalformedXML", "The XML you provided was not well-formed.", 400) from None
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
                m = _RANGE.match(rng.replace(" ", ""))
                if m and (m.group(1) or m.group(2)):
                    if not m.group(1):
                        length = min(int(m.group(2)), obj.size)
                        offset = obj.size - length
                    else:
                        offset = int(m.group(1))
                        end = min(int(m.group(2)), obj.size - 1) if m.group(2) else obj.size - 1
                        if offset >= obj.size or end < offset:
                            raise S3Error("InvalidRange", "The requested range is not satisfiable",
                                          416, key)
                        length = end - offset + 1
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
        if "if-match" in h and not parse_conditional({"if-match": h["if-match"]}).test(obj):  # type: ignore[union-attr]
            return 412
        if "if-match" not in h and "if-unmodified-since" in h:
            try:
                cond = parse_conditional({"if-unmodified-since": h["if-unmodified-since"]})
            except (TypeError, ValueError):
                cond = None
            if cond is not None and (obj.uploaded - obj.uploaded % 1000) > cond.uploaded_before:  # type: ignore[operator]
                return 412
        if "if-none-match" in h:
            if not parse_conditional({"if-none-match": h["if-none-match"]}).test(obj):  # type: ignore[union-attr]
                return 304
        elif "if-modified-since" in h:
            try:
                cond = parse_conditional({"if-modified-since": h["if-modified-since"]})
            except (TypeError, ValueError):
                cond = None
            if cond is not None and (obj.uploaded - obj.uploaded % 1000) <= cond.uploaded_after:  # type: ignore[operator]
                return 304
        return None


class S3Server:
    """Runs ``S3Endpoint`` on its own port (``platform.s3_port``; 0 = a free port)."""

    def __init__(self, store: R2Store, clock: Clock, host: str, port: int) -> None:
        self.endpoint = S3Endpoint(store, clock)
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        self._runner = web.AppRunner(self.endpoint.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = site._server.sockets  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1]
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


__all__ = ["S3Endpoint", "S3Server", "encode_cursor"]
