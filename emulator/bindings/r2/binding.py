"""What apps see on ``env.BUCKET``: ``R2Bucket`` and the objects it returns.

The API is workerd's R2 binding as Python Workers code calls it (options as keyword
arguments, or one dict of options, as Pyodide converts either to the JS options object);
semantics follow R2's (docs/r2.md, "The binding") — key and metadata limits, conditionals,
ranges, list pagination and R2's error messages (``R2Error``). State lives in
``R2Store`` (the index-backed engine); this module never touches moto.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import binascii
import email.utils
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from collections.abc import AsyncIterator, Callable, Iterable, Mapping

from emulator.bindings.r2.errors import R2Error, bad_digest
from emulator.jsobject import ConvertedBuffer, ConvertedList, JsObject

if TYPE_CHECKING:
    # Only for annotations: importing the store pulls in moto, which the registry's
    # `used_by` checks (and `check`) should not pay for.
    from emulator.bindings.r2.store import BlobReader, R2Store, Staged, StoredObject
    from emulator.clock import Clock

MAX_KEY_BYTES = 1024
MAX_VALUE_SIZE = 5 * 1024**3 - 5 * 1024**2  # 5 GiB - 5 MiB (R2's single-upload limit)
MAX_METADATA_SIZE = 2048
MAX_LIST_LIMIT = 1000
MAX_LIST_LIMIT_WITH_INCLUDE = 100
# Work bigger than this (bytes written or read at once) goes to a thread, off the loop.
THREAD_THRESHOLD = 1 << 20
STREAM_CHUNK = 1 << 20
HASH_ALGORITHMS = ("md5", "sha1", "sha256", "sha384", "sha512")

HTTP_FIELDS = {
    "contentType": "content-type",
    "contentLanguage": "content-language",
    "contentDisposition": "content-disposition",
    "contentEncoding": "content-encoding",
    "cacheControl": "cache-control",
    "cacheExpiry": "expires",
}
_HEADER_TO_FIELD = {v: k for k, v in HTTP_FIELDS.items()}

T = TypeVar("T")


# --- option handling ---------------------------------------------------------------
def _options(options: Mapping[str, Any] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    if options is None:
        return kwargs  # a fresh dict per call already (the common case: keywords or none)
    merged: dict[str, Any] = {}
    if options is not None:
        if not isinstance(options, Mapping):
            raise TypeError("R2 options must be a dict (or keyword arguments)")
        merged.update(options)
    merged.update(kwargs)
    return merged


def _to_ms(value: Any) -> int:
    """A JS Date equivalent (datetime, or epoch milliseconds) as epoch milliseconds."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return round(aware.timestamp() * 1000)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        parsed = email.utils.parsedate_to_datetime(value)
        return _to_ms(parsed)
    raise TypeError(f"expected a datetime, got {type(value).__name__}")


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _metadata_size(text: str) -> int:
    # Miniflare's rule: a string counts its UTF-16 length, doubled if any char code >= 256.
    n = _utf16_len(text)
    return n * 2 if any(ord(c) >= 256 for c in text) else n


def validate_key(key: Any, method: str) -> str:
    if not isinstance(key, str):
        raise TypeError(f"{method}: key must be a string")
    # A character is at most 4 UTF-8 bytes, so short keys need no encoding to check.
    if len(key) > MAX_KEY_BYTES // 4 and len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise R2Error("InvalidObjectName", method)
    return key


def parse_custom_metadata(value: Any, method: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{method}: customMetadata must be a dict of strings")
    out: dict[str, str] = {}
    size = 0
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"{method}: customMetadata keys and values must be strings")
        out[k] = v
        size += _metadata_size(k) + _metadata_size(v)
    if size > MAX_METADATA_SIZE:
        raise R2Error("MetadataTooLarge", method)
    return out


def parse_http_metadata(value: Any, method: str) -> dict[str, Any]:
    """``httpMetadata`` as a dict of R2 field names, or a headers mapping."""
    if value is None:
        return {}
    if hasattr(value, "items"):
        items = list(value.items())
    else:
        raise TypeError(f"{method}: httpMetadata must be a dict or headers")
    out: dict[str, Any] = {}
    for name, v in items:
        field = name if name in HTTP_FIELDS else _HEADER_TO_FIELD.get(str(name).lower())
        if field is None or v is None:
            continue
        out[field] = _to_ms(v) if field == "cacheExpiry" else str(v)
    return out


def _http_metadata_view(stored: dict[str, Any]) -> JsObject:
    view = JsObject(stored)
    if "cacheExpiry" in view:
        view["cacheExpiry"] = datetime.fromtimestamp(view["cacheExpiry"] / 1000, tz=UTC)
    return view


# --- conditionals ------------------------------------------------------------------
@dataclass(frozen=True)
class Etag:
    kind: str  # "strong" | "weak" | "wildcard"
    value: str


def _parse_etags(value: Any) -> list[Etag]:
    items: Iterable[Any] = value if isinstance(value, (list, tuple)) else [value]
    out: list[Etag] = []
    for item in items:
        for raw in str(item).split(","):
            text = raw.strip()
            if not text:
                continue
            if text == "*":
                out.append(Etag("wildcard", ""))
            elif text.startswith("W/"):
                out.append(Etag("weak", text[2:].strip('"')))
            else:
                out.append(Etag("strong", text.strip('"')))
    return out


def _matches(etag: str, candidates: list[Etag], weak_ok: bool) -> bool:
    for c in candidates:
        if c.kind == "wildcard":
            return True
        if c.value == etag and (c.kind == "strong" or weak_ok):
            return True
    return False


@dataclass(frozen=True)
class Conditional:
    etag_matches: list[Etag] | None = None
    etag_does_not_match: list[Etag] | None = None
    uploaded_before: int | None = None
    uploaded_after: int | None = None
    seconds_granularity: bool = False

    def test(self, obj: StoredObject | None) -> bool:
        """Miniflare's ``_testR2Conditional`` (RFC 7232 §6 precedence)."""
        if obj is None:
            return self.etag_matches is None and self.uploaded_after is None
        if_match = self.etag_matches is None or _matches(obj.etag, self.etag_matches, False)
        if_none_match = (self.etag_does_not_match is None
                         or not _matches(obj.etag, self.etag_does_not_match, True))
        trunc: Callable[[int], int] = (lambda t: t - t % 1000) if self.seconds_granularity else (lambda t: t)
        modified = trunc(obj.uploaded)
        if_modified_since = (self.uploaded_after is None
                             or trunc(self.uploaded_after) < modified
                             or (self.etag_does_not_match is not None and if_none_match))
        if_unmodified_since = (self.uploaded_before is None
                               or modified < trunc(self.uploaded_before)
                               or (self.etag_matches is not None and if_match))
        return if_match and if_none_match and if_modified_since and if_unmodified_since


def parse_conditional(value: Any) -> Conditional | None:
    """``onlyIf`` as an R2Conditional dict or as request headers."""
    if value is None:
        return None
    if not hasattr(value, "items"):
        raise TypeError("onlyIf must be a dict or headers")
    lowered = {str(k).lower(): v for k, v in value.items()}
    if any(k.startswith("if-") for k in lowered):
        return Conditional(
            etag_matches=_parse_etags(lowered["if-match"]) if "if-match" in lowered else None,
            etag_does_not_match=(_parse_etags(lowered["if-none-match"])
                                 if "if-none-match" in lowered else None),
            uploaded_after=(_to_ms(lowered["if-modified-since"])
                            if "if-modified-since" in lowered else None),
            uploaded_before=(_to_ms(lowered["if-unmodified-since"])
                             if "if-unmodified-since" in lowered else None),
            seconds_granularity=True,  # HTTP dates have whole seconds
        )
    opts = dict(value.items())
    return Conditional(
        etag_matches=_parse_etags(opts["etagMatches"]) if opts.get("etagMatches") is not None else None,
        etag_does_not_match=(_parse_etags(opts["etagDoesNotMatch"])
                             if opts.get("etagDoesNotMatch") is not None else None),
        uploaded_before=_to_ms(opts["uploadedBefore"]) if opts.get("uploadedBefore") is not None else None,
        uploaded_after=_to_ms(opts["uploadedAfter"]) if opts.get("uploadedAfter") is not None else None,
        seconds_granularity=bool(opts.get("secondsGranularity", False)),
    )


# --- ranges ------------------------------------------------------------------------
_RANGE_HEADER = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def resolve_range(spec: Any, size: int, method: str = "get") -> tuple[int, int] | None:
    """``(offset, length)`` for an R2Range dict or a headers mapping with ``Range``;
    ``None`` means the whole object."""
    if spec is None:
        return None
    if not hasattr(spec, "items"):
        raise TypeError("range must be a dict ({offset, length} / {suffix}) or headers")
    lowered = {str(k).lower(): v for k, v in spec.items()}
    if "range" in lowered:
        # A Range header applies only when it names one range; otherwise the whole object.
        m = _RANGE_HEADER.match(str(lowered["range"]))
        if not m or (not m.group(1) and not m.group(2)):
            return None
        if not m.group(1):
            spec = {"suffix": int(m.group(2))}
        elif not m.group(2):
            spec = {"offset": int(m.group(1))}
        else:
            start, end = int(m.group(1)), int(m.group(2))
            if end < start:
                return None
            spec = {"offset": start, "length": end - start + 1}
    offset, length, suffix = spec.get("offset"), spec.get("length"), spec.get("suffix")
    for v in (offset, length, suffix):
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            raise R2Error("InvalidRange", method)
    if suffix is not None:
        if offset is not None or length is not None or suffix == 0:
            raise R2Error("InvalidRange", method)
        suffix = min(suffix, size)
        return size - suffix, suffix
    start = offset or 0
    if start > size or length == 0:
        raise R2Error("InvalidRange", method)
    avail = size - start
    return start, avail if length is None else min(length, avail)


# --- objects -----------------------------------------------------------------------
class R2Object:
    """Metadata of one object (``head``, ``put``, ``list`` and failed-precondition ``get``)."""

    __slots__ = ("_stored", "range", "_include_http", "_include_custom")

    def __init__(self, stored: StoredObject, range: JsObject | None = None,
                 include_http: bool = True, include_custom: bool = True) -> None:
        self._stored = stored
        self.range = range
        self._include_http = include_http
        self._include_custom = include_custom

    @property
    def key(self) -> str:
        return self._stored.key

    @property
    def version(self) -> str:
        return self._stored.version

    @property
    def size(self) -> int:
        return self._stored.size

    @property
    def etag(self) -> str:
        return self._stored.etag

    @property
    def httpEtag(self) -> str:  # noqa: N802 (Cloudflare's name)
        return f'"{self._stored.etag}"'

    @property
    def uploaded(self) -> datetime:
        return self._stored.uploaded_datetime

    @property
    def storageClass(self) -> str:  # noqa: N802 - JS spelling
        return "Standard"

    @property
    def httpMetadata(self) -> JsObject:  # noqa: N802 - JS spelling
        return _http_metadata_view(self._stored.http_metadata) if self._include_http else JsObject()

    @property
    def customMetadata(self) -> JsObject:  # noqa: N802 - JS spelling
        return JsObject(self._stored.custom_metadata) if self._include_custom else JsObject()

    @property
    def checksums(self) -> R2Checksums:
        return R2Checksums(self._stored.checksums)

    def writeHttpMetadata(self, headers: Any) -> None:  # noqa: N802 - JS spelling
        """Copy httpMetadata onto a headers object (``set(name, value)`` or item assignment)."""
        for name, value in self._stored.http_metadata.items():
            header = HTTP_FIELDS[name]
            text = (email.utils.format_datetime(
                datetime.fromtimestamp(value / 1000, tz=UTC), usegmt=True)
                if name == "cacheExpiry" else str(value))
            if hasattr(headers, "set"):
                headers.set(header, text)
            else:
                headers[header] = text

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view (for the internal API and the CLI)."""
        return {
            "key": self.key, "version": self.version, "size": self.size, "etag": self.etag,
            "httpEtag": self.httpEtag, "uploaded": self.uploaded.isoformat().replace("+00:00", "Z"),
            "httpMetadata": {k: (v.isoformat() if isinstance(v, datetime) else v)
                             for k, v in self.httpMetadata.items()},
            "customMetadata": dict(self.customMetadata), "checksums": self.checksums.toJSON(),
            "storageClass": self.storageClass,
            **({"range": dict(self.range)} if self.range is not None else {}),
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} key={self.key!r} size={self.size} etag={self.etag}>"


class R2Checksums(JsObject):
    """Hashes as bytes (ArrayBuffers in JS); ``toJSON()`` gives the hex strings."""

    def __init__(self, hexes: Mapping[str, str]) -> None:
        super().__init__({alg: bytes.fromhex(h) for alg, h in hexes.items()})
        object.__setattr__(self, "_hex", dict(hexes))

    def toJSON(self) -> dict[str, str]:  # noqa: N802 - JS spelling
        return dict(object.__getattribute__(self, "_hex"))


class R2ObjectBody(R2Object):
    """An object with its bytes: read once, as text/json/bytes or as a chunk stream."""

    __slots__ = ("_reader", "_offset", "_length", "_used")

    def __init__(self, stored: StoredObject, reader: BlobReader, offset: int, length: int,
                 range: JsObject) -> None:
        # R2Object.__init__'s assignments, inline (one call less on every get).
        self._stored = stored
        self.range = range
        self._include_http = self._include_custom = True
        self._reader = reader
        self._offset = offset
        self._length = length
        self._used = False

    @property
    def bodyUsed(self) -> bool:  # noqa: N802 - JS spelling
        return self._used

    def _take(self) -> BlobReader:
        if self._used:
            raise TypeError("Body has already been used. It can only be used once. "
                            "Use tee() first if you need to read it twice.")
        self._used = True
        return self._reader

    # The body as ``bytes``: plain bytes, not the ConvertedBuffer `arrayBuffer()` gives,
    # which costs one more copy of the object.
    async def bytes(self) -> builtins.bytes:
        reader = self._take()
        try:
            if self._length > THREAD_THRESHOLD:
                data = await asyncio.get_running_loop().run_in_executor(
                    None, reader.read, self._offset, self._length)
            else:
                data = reader.read(self._offset, self._length)
        finally:
            reader.close()
        return data

    async def arrayBuffer(self) -> ConvertedBuffer:  # noqa: N802 (workerd's name)
        """The body as the SDK hands an ArrayBuffer over (a memoryview in production):
        bytes-like, and ``.to_bytes()`` for pre-SDK code (docs/python-workers.md)."""
        return ConvertedBuffer(await self.bytes())

    async def blob(self) -> Any:
        """The body as a ``workers.Blob`` typed with the object's content type."""
        from emulator.runtime.http import Blob

        content_type = self._stored.http_metadata.get("contentType") if self._include_http else None
        return Blob([await self.bytes()], content_type)

    async def text(self) -> str:
        return (await self.bytes()).decode("utf-8", "replace")

    async def json(self) -> Any:
        return json.loads(await self.text())

    @property
    def body(self) -> AsyncIterator[builtins.bytes]:
        """The bytes as a stream of chunks (a ReadableStream's ``async for``)."""
        return self._stream()

    async def _stream(self) -> AsyncIterator[builtins.bytes]:
        reader = self._take()
        loop = asyncio.get_running_loop()
        try:
            offset, end = self._offset, self._offset + self._length
            while offset < end:
                n = min(STREAM_CHUNK, end - offset)
                chunk = (await loop.run_in_executor(None, reader.read, offset, n)
                         if n >= THREAD_THRESHOLD else reader.read(offset, n))
                offset += n
                yield chunk
        finally:
            reader.close()


class R2MultipartUpload:
    """One multipart upload (``createMultipartUpload`` / ``resumeMultipartUpload``)."""

    def __init__(self, bucket: R2Bucket, key: str, upload_id: str) -> None:
        self._bucket = bucket
        self.key = key
        self.uploadId = upload_id  # Cloudflare spelling

    async def uploadPart(self, partNumber: int, value: Any,  # noqa: N802,N803 - JS spelling
                         options: Mapping[str, Any] | None = None, **kwargs: Any) -> JsObject:
        return await self._bucket._upload_part(self.key, self.uploadId, partNumber, value,
                                               _options(options, kwargs))

    async def complete(self, uploadedParts: list[Any]) -> R2Object:  # noqa: N803 - JS spelling
        return await self._bucket._complete(self.key, self.uploadId, uploadedParts)

    async def abort(self) -> None:
        await self._bucket._abort(self.key, self.uploadId)


# --- the bucket --------------------------------------------------------------------
class R2Bucket:
    """``env.BUCKET``: Cloudflare's R2 binding API over an ``R2Store`` bucket."""

    def __init__(self, store: R2Store, bucket_name: str, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self.bucket_name = bucket_name
        store.ensure_bucket(bucket_name)

    def __repr__(self) -> str:
        return f"<R2Bucket {self.bucket_name}>"

    async def _off_loop(self, size: int, fn: Callable[[], T]) -> T:
        if size > THREAD_THRESHOLD:
            return await asyncio.get_running_loop().run_in_executor(None, fn)
        return fn()

    async def head(self, key: str) -> R2Object | None:
        validate_key(key, "head")
        stored = self._store.head(self.bucket_name, key)
        if stored is None:
            return None
        return R2Object(stored, JsObject(offset=0, length=stored.size))

    async def get(self, key: str, options: Mapping[str, Any] | None = None,
                  **kwargs: Any) -> R2ObjectBody | R2Object | None:
        opts = _options(options, kwargs)
        validate_key(key, "get")
        # A plain get(key) (no onlyIf, no range) skips the option parsing altogether.
        cond = parse_conditional(opts.get("onlyIf")) if opts else None
        opened = self._store.open(self.bucket_name, key)
        if opened is None:
            return None
        stored, reader = opened
        if not opts:
            size = stored.size
            return R2ObjectBody(stored, reader, 0, size, JsObject(offset=0, length=size))
        try:
            if cond is not None and not cond.test(stored):
                reader.close()
                return R2Object(stored, JsObject(offset=0, length=stored.size))
            rng = resolve_range(opts.get("range"), stored.size, "get")
        except BaseException:
            reader.close()
            raise
        offset, length = rng if rng is not None else (0, stored.size)
        return R2ObjectBody(stored, reader, offset, length, JsObject(offset=offset, length=length))

    async def put(self, key: str, value: Any, options: Mapping[str, Any] | None = None,
                  **kwargs: Any) -> R2Object | None:
        opts = _options(options, kwargs)
        validate_key(key, "put")
        expected: dict[str, str] = {}
        if opts:  # a plain put(key, value) has nothing to parse
            http_metadata = parse_http_metadata(opts.get("httpMetadata"), "put")
            custom_metadata = parse_custom_metadata(opts.get("customMetadata"), "put")
            cond = parse_conditional(opts.get("onlyIf"))
            supplied = {alg: opts[alg] for alg in HASH_ALGORITHMS if opts.get(alg) is not None}
            if len(supplied) > 1:
                raise TypeError("You cannot specify multiple hashing algorithms.")
            for alg, digest in supplied.items():
                expected[alg] = _digest_hex(digest, alg)
        else:
            http_metadata, custom_metadata, cond = {}, {}, None
        staged = await self._stage(value, expected, "put")
        try:
            for alg, want in expected.items():
                got = staged.hexdigest(alg)
                if got != want:
                    raise bad_digest(alg, want, got).for_method("put")
            checksums = {"md5": staged.hexdigest("md5"), **expected}
            uploaded = self._clock.now_ms()

            def commit() -> StoredObject | None:
                return self._store.put(
                    self.bucket_name, key, staged, http_metadata=http_metadata,
                    custom_metadata=custom_metadata, checksums=checksums, uploaded=uploaded,
                    condition=cond.test if cond is not None else None)

            # Small puts commit inline: a thread hop would cost more than the commit.
            stored = (await self._off_loop(staged.size, commit) if staged.size > THREAD_THRESHOLD
                      else commit())
        except BaseException:
            staged.discard()
            raise
        return R2Object(stored) if stored is not None else None

    async def _stage(self, value: Any, expected: Mapping[str, str], method: str) -> Staged:
        staged = self._store.stage(self.bucket_name, expected.keys())
        try:
            if value is None:
                pass
            elif isinstance(value, str):
                staged.write(value.encode("utf-8"))
            elif isinstance(value, (bytes, bytearray, memoryview)):
                if len(value) > MAX_VALUE_SIZE:
                    raise R2Error("EntityTooLarge", method)
                if len(value) > THREAD_THRESHOLD:
                    await self._off_loop(len(value), lambda: staged.write(value))
                else:
                    staged.write(value)
            elif isinstance(value, R2ObjectBody):
                async for chunk in value.body:
                    staged.write(chunk)
            elif hasattr(value, "__aiter__"):
                async for chunk in value:
                    staged.write(chunk.encode() if isinstance(chunk, str) else chunk)
                    if staged.size > MAX_VALUE_SIZE:
                        raise R2Error("EntityTooLarge", method)
            elif hasattr(value, "read"):
                loop = asyncio.get_running_loop()
                while True:
                    read: Any = await loop.run_in_executor(None, value.read, STREAM_CHUNK)
                    if not read:
                        break
                    staged.write(read.encode() if isinstance(read, str) else read)
                    if staged.size > MAX_VALUE_SIZE:
                        raise R2Error("EntityTooLarge", method)
            else:
                raise TypeError(f"{method}: unsupported value type {type(value).__name__}")
            return staged.finish()
        except BaseException:
            staged.discard()
            raise

    async def delete(self, keys: str | builtins.list[str]) -> None:
        items = [keys] if isinstance(keys, str) else list(keys)
        for k in items:  # R2 validates every key before deleting any
            validate_key(k, "delete")
        self._store.delete(self.bucket_name, items)

    async def list(self, options: Mapping[str, Any] | None = None, **kwargs: Any) -> JsObject:
        opts = _options(options, kwargs)
        include = opts.get("include") or []
        if isinstance(include, str):
            include = [include]
        limit = opts.get("limit")
        if limit is None:
            limit = MAX_LIST_LIMIT
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIST_LIMIT:
            raise R2Error("InvalidMaxKeys", "list")
        if include:
            limit = min(limit, MAX_LIST_LIMIT_WITH_INCLUDE)
        return list_objects(
            self._store, self.bucket_name, prefix=opts.get("prefix") or "",
            delimiter=opts.get("delimiter") or "", cursor=opts.get("cursor"),
            start_after=opts.get("startAfter"), limit=limit,
            include_http="httpMetadata" in include, include_custom="customMetadata" in include)

    # --- multipart ----------------------------------------------------------------
    async def createMultipartUpload(self, key: str, options: Mapping[str, Any] | None = None,  # noqa: N802 - JS spelling
                                    **kwargs: Any) -> R2MultipartUpload:
        opts = _options(options, kwargs)
        method = "createMultipartUpload"
        validate_key(key, method)
        http_metadata = parse_http_metadata(opts.get("httpMetadata"), method)
        custom_metadata = parse_custom_metadata(opts.get("customMetadata"), method)
        upload_id = self._store.create_upload(self.bucket_name, key, http_metadata, custom_metadata)
        return R2MultipartUpload(self, key, upload_id)

    def resumeMultipartUpload(self, key: str, uploadId: str) -> R2MultipartUpload:  # noqa: N802,N803 - JS spelling
        return R2MultipartUpload(self, key, uploadId)

    async def _upload_part(self, key: str, upload_id: str, part_number: int, value: Any,
                           opts: dict[str, Any]) -> JsObject:
        method = "uploadPart"
        if not isinstance(part_number, int) or not 1 <= part_number <= 10000:
            raise TypeError("Part number must be between 1 and 10000 (inclusive).")
        staged = await self._stage(value, {}, method)
        try:
            part = await self._off_loop(staged.size, lambda: self._store.put_part(
                self.bucket_name, upload_id, key, part_number, staged))
        except R2Error as exc:
            raise exc.for_method(method) from None
        finally:
            staged.discard()
        return JsObject(partNumber=part.part_number, etag=part.etag)

    async def _complete(self, key: str, upload_id: str, parts: builtins.list[Any]) -> R2Object:
        pairs: builtins.list[tuple[int, str]] = []
        for p in parts:
            if isinstance(p, Mapping):
                number, etag = p.get("partNumber"), p.get("etag")
            else:  # an R2UploadedPart-like object
                number, etag = getattr(p, "partNumber", None), getattr(p, "etag", None)
            if not isinstance(number, int) or not isinstance(etag, str):
                raise TypeError("complete() expects parts as {partNumber, etag} (what uploadPart returns)")
            pairs.append((number, etag))
        try:
            stored = self._store.complete_upload(self.bucket_name, upload_id, key, pairs,
                                                 self._clock.now_ms())
        except R2Error as exc:
            raise exc.for_method("completeMultipartUpload") from None
        return R2Object(stored)

    async def _abort(self, key: str, upload_id: str) -> None:
        try:
            self._store.abort_upload(self.bucket_name, upload_id, key)
        except R2Error as exc:
            raise exc.for_method("abortMultipartUpload") from None


def _digest_hex(value: Any, alg: str) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, str):
        try:
            bytes.fromhex(value)
        except ValueError:
            raise TypeError(f"put: {alg} must be a hex string or bytes") from None
        return value.lower()
    raise TypeError(f"put: {alg} must be a hex string or bytes")


def encode_cursor(value: str) -> str:
    return base64.b64encode(value.encode("utf-8", "surrogatepass")).decode("ascii")


def decode_cursor(cursor: str) -> str:
    try:
        return base64.b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return cursor


def list_objects(store: R2Store, bucket: str, *, prefix: str = "", delimiter: str = "",
                 cursor: str | None = None, start_after: str | None = None,
                 limit: int = MAX_LIST_LIMIT, include_http: bool = False,
                 include_custom: bool = False) -> JsObject:
    """R2's list page (also used by the internal API and the CLI).

    The store walks the index from the cursor (or ``startAfter``, whichever is later),
    rolling keys up into common prefixes and skipping past each one (``R2Store.walk``);
    this takes ``limit`` entries and one more to know whether the page is truncated.
    """
    start = ""
    if cursor:
        start = decode_cursor(cursor)
    if start_after and start_after > start:
        start = start_after  # cursor and startAfter combined: the later one wins
    objects: list[R2Object] = []
    prefixes: list[str] = []
    last = ""
    truncated = False
    for item in store.walk(bucket, prefix, start, delimiter, chunk=limit + 1):
        if len(objects) + len(prefixes) >= limit:
            truncated = True
            break
        if type(item) is str:
            prefixes.append(item)
            last = item
        else:
            objects.append(R2Object(item, None, include_http, include_custom))  # type: ignore[arg-type]  # walk() yields prefixes (str) or StoredObject; `type() is` does not narrow the else branch
            last = item.key  # type: ignore[union-attr]  # see above
    result = JsObject(objects=ConvertedList(objects), truncated=truncated,
                      delimitedPrefixes=ConvertedList(prefixes))
    if truncated:
        result["cursor"] = encode_cursor(last)
    return result
