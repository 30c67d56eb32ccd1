"""``Request``, ``Response``, ``Headers``, ``FormData`` and ``fetch`` as app code sees them.

Shapes follow Cloudflare's Python Workers SDK (``workers-py`` ``packages/runtime-sdk``;
docs/python-workers.md, "The workers module"), which wraps the JS Fetch API: ``Response(body, status,
headers)``, ``Response.json(data)`` as a static constructor *and* ``await resp.json()`` on
an instance, ``Response.redirect(url, status=302)``, ``Request.url`` as a string,
``await request.text()/json()/bytes()/form_data()``. Default headers are workerd's: a
``str`` body gets ``text/plain;charset=UTF-8``, ``Response.json`` gets
``application/json``, a ``bytes`` body gets no content type.

These are what apps see; turning aiohttp's requests into them and them back into aiohttp's
responses is ``emulator.runtime.aiohttp_adapter``. A body is read through
``emulator.runtime.body`` (the request size limit, multipart forms parsed as they arrive,
big file parts on disk: docs/hosting.md).
"""

from __future__ import annotations

import builtins
import enum
import http
import json as _json
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Iterable, Iterator, Mapping, MutableMapping
from typing import Any, overload
from urllib.parse import parse_qsl, urljoin

from multidict import CIMultiDict, CIMultiDictProxy

from emulator.jsobject import JsObject
from emulator.runtime.body import (
    BodySource,
    CallableBody,
    FilePart,
    FormEntry,
    SpillFile,
    parse_multipart_bytes,
)

TEXT_PLAIN = "text/plain;charset=UTF-8"
APPLICATION_JSON = "application/json"
_NULL_BODY_STATUSES = frozenset({101, 204, 205, 304})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_METHODS = {m.value: m for m in http.HTTPMethod}


class Headers(MutableMapping[str, str]):
    """Case-insensitive HTTP headers with the JS ``Headers`` and ``dict`` surfaces.

    Iteration yields lower-cased names and ``get`` joins repeated values with ``", "``,
    as JS ``Headers`` does; ``get_all`` returns them separately (``set-cookie``).
    Incoming headers are wrapped without copying until the app changes them.
    """

    __slots__ = ("_h", "_owned")

    def __init__(self, init: Any = None) -> None:
        if init is None:
            self._h: CIMultiDict[str] | CIMultiDictProxy[str] = CIMultiDict()
            self._owned = True
            return
        if isinstance(init, CIMultiDictProxy):
            self._h = init
            self._owned = False
            return
        self._h = CIMultiDict()
        self._owned = True
        if isinstance(init, Headers):
            self._h.extend(init._h.items())
        elif isinstance(init, Mapping):
            for name, value in init.items():
                self._h.add(str(name), str(value))
        elif isinstance(init, Iterable) and not isinstance(init, (str, bytes)):
            for pair in init:
                name, value = pair
                self._h.add(str(name), str(value))
        else:
            raise TypeError("headers must be a dict, a list of (name, value) pairs or Headers")

    def _writable(self) -> CIMultiDict[str]:
        if not self._owned:
            self._h = CIMultiDict(self._h)
            self._owned = True
        assert isinstance(self._h, CIMultiDict)
        return self._h

    # -- reading
    def get(self, name: str, default: Any = None) -> Any:
        values = self._h.getall(name, None)
        if not values:
            return default
        return values[0] if len(values) == 1 else ", ".join(values)

    def __getitem__(self, name: str) -> str:
        # ``headers["x"]`` is None when absent: the SDK's headers are an
        # ``http.client.HTTPMessage`` (email.message semantics), not a dict.
        value = self.get(name)
        return None if value is None else str(value)  # type: ignore[return-value]  # None when absent, as the SDK's HTTPMessage headers answer

    def pop(self, name: str, *default: Any) -> Any:
        if name in self._h:
            value = self.get(name)
            self.delete(name)
            return value
        if default:
            return default[0]
        raise KeyError(name)

    def setdefault(self, name: str, default: Any = None) -> Any:
        if name not in self._h:
            self.set(name, default)
        return self.get(name)

    def entries(self) -> list[tuple[str, str]]:
        """JS ``Headers.entries()``: (lower-cased name, value) pairs, repeated names joined."""
        return [(name, self.get(name)) for name in self]

    def get_all(self, name: str) -> list[str]:
        return list(self._h.getall(name, []))

    getAll = get_all  # noqa: N815 - JS spelling

    def getSetCookie(self) -> list[str]:  # noqa: N802 - JS spelling
        return self.get_all("set-cookie")

    def has(self, name: str) -> bool:
        return name in self._h

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._h

    def __iter__(self) -> Iterator[str]:
        seen: list[str] = []
        for name in self._h:
            lower = name.lower()
            if lower not in seen:
                seen.append(lower)
        return iter(seen)

    def __len__(self) -> int:
        return len({k.lower() for k in self._h})

    def raw_items(self) -> list[tuple[str, str]]:
        """Every (name, value) pair, repeated names kept (what goes on the wire)."""
        return list(self._h.items())

    # -- writing
    def set(self, name: str, value: str) -> None:
        self._writable()[name] = str(value)

    def append(self, name: str, value: str) -> None:
        self._writable().add(name, str(value))

    def delete(self, name: str) -> None:
        self._writable().popall(name, None)

    def __setitem__(self, name: str, value: str) -> None:
        self.set(name, value)

    def __delitem__(self, name: str) -> None:
        if name not in self._h:
            raise KeyError(name)
        self.delete(name)

    def copy(self) -> Headers:
        return Headers(self)

    def __repr__(self) -> str:
        return f"Headers({self.raw_items()!r})"


def header_pairs(headers: Any) -> list[tuple[str, str]]:
    """Every (name, value) pair of ``headers``: a ``Headers`` (repeated names kept), a mapping,
    or pairs; what the ASGI and WSGI adapters put in the scope / environ."""
    if isinstance(headers, Headers):
        return headers.raw_items()
    items = headers.items() if hasattr(headers, "items") else headers
    return [(str(k), str(v)) for k, v in items]


class BlobEnding(enum.StrEnum):
    """How line endings in ``str`` parts are written (JS ``endings``). ``native`` means
    ``\\n`` on the Linux machines Workers run on, so both keep text unchanged."""

    TRANSPARENT = "transparent"
    NATIVE = "native"


def _is_part_sequence(value: Any) -> bool:
    """The SDK's test: one part unless iterable (``str`` and ``bytes`` count as one part)."""
    if isinstance(value, (str, bytes, bytearray, memoryview, Blob)):
        return False
    try:
        iter(value)
    except TypeError:
        return False
    return True


def _blob_part(part: Any) -> builtins.bytes:
    if isinstance(part, str):
        return part.encode()
    if isinstance(part, Blob):
        return part._data
    try:
        with memoryview(part) as view:
            return view.tobytes()
    except TypeError:
        raise TypeError(f"Don't know how to handle {type(part)} for Blob()") from None


def _now_ms() -> int:
    """Now, on the emulator's clock while app code runs (JS ``Date.now()``)."""
    from emulator.runtime.invocation import current

    inv = current.get()
    if inv is not None:
        return int(inv.host.platform.clock.now_ms())
    import time

    return int(time.time() * 1000)


class Blob:
    """Binary data with a content type (the SDK's ``Blob``, which is also JS ``Blob`` here).

    The bytes are in memory, or, for a big uploaded file part, in a ``SpillFile`` on disk
    that is read only when asked (``bytes()``, ``text()``, ``arrayBuffer()``, ``stream()``).
    """

    js_type_name = "Blob"
    # The disk-backed bytes of an uploaded file part (``_data`` is then empty).
    _spill: SpillFile | None = None

    def __init__(self, blob_parts: Any, content_type: str | None = None,
                 endings: BlobEnding | str | None = None) -> None:
        if not _is_part_sequence(blob_parts):
            if not content_type and isinstance(blob_parts, Blob):
                content_type = blob_parts.content_type  # a single Blob passes its type on
            blob_parts = [] if blob_parts is None else [blob_parts]
        self._data = b"".join(_blob_part(p) for p in blob_parts)
        self._type = (content_type or "").lower()

    @property
    def size(self) -> int:
        spill = self._spill
        return len(self._data) if spill is None else spill.size

    @property
    def content_type(self) -> str:
        return self._type

    @property
    def type(self) -> str:
        """JS spelling of ``content_type``."""
        return self._type

    @property
    def js_object(self) -> Blob:
        return self

    @property
    def constructor(self) -> Any:
        from emulator.runtime.jsproxy import _Constructor

        return _Constructor(self.js_type_name)

    async def bytes(self) -> builtins.bytes:
        spill = self._spill
        return self._data if spill is None else await spill.read_all()

    async def text(self) -> str:
        return (await self.bytes()).decode("utf-8", errors="replace")

    async def arrayBuffer(self) -> Any:  # noqa: N802 - JS spelling
        from emulator.runtime.jsproxy import JsArrayBuffer

        return JsArrayBuffer(await self.bytes())

    array_buffer = arrayBuffer

    def slice(self, start: int | None = None, end: int | None = None,
              content_type: str | None = None) -> Blob:
        return Blob([self._contents()[slice(start, end)]], content_type)

    async def stream(self) -> AsyncIterator[builtins.bytes]:
        """The bytes in chunks (JS ``Blob.stream()``): ``async for chunk in blob.stream()``.

        A disk-backed upload is read a chunk at a time, so it can go to R2
        (``await bucket.put(key, file.stream())``) without being loaded whole.
        """
        spill = self._spill
        if spill is None:
            if self._data:
                yield self._data
            return
        async for chunk in spill.chunks():
            yield chunk

    def _contents(self) -> builtins.bytes:
        """The bytes now; a disk-backed blob is read with a blocking read (sync callers only)."""
        spill = self._spill
        return self._data if spill is None else spill.read_all_blocking()

    def _share(self, other: Blob) -> None:
        """Make this blob hold ``other``'s bytes (no copy, on disk or in memory)."""
        self._data = other._data
        self._spill = other._spill

    def __repr__(self) -> str:
        return f"<{type(self).__name__} size={self.size} type={self._type!r}>"


class File(Blob):
    """An uploaded file (the SDK's ``File``): a ``Blob`` with a ``name`` and ``last_modified``."""

    js_type_name = "File"

    def __init__(self, blob_parts: Any, filename: str, content_type: str | None = None,
                 endings: BlobEnding | str | None = None, last_modified: int | None = None) -> None:
        if not _is_part_sequence(blob_parts) and isinstance(blob_parts, File) and not last_modified:
            last_modified = blob_parts.last_modified
        super().__init__(blob_parts, content_type, endings)
        self._name = str(filename)
        self._last_modified = int(last_modified) if last_modified else _now_ms()

    @property
    def name(self) -> str:
        return self._name

    @property
    def last_modified(self) -> int:
        return self._last_modified

    @property
    def lastModified(self) -> int:  # noqa: N802 - JS spelling
        return self._last_modified

    @classmethod
    def _from_part(cls, part: FilePart) -> File:
        """An uploaded file part as a ``File`` (disk-backed when the part was spilled)."""
        file = cls(None, part.filename, part.content_type)
        if isinstance(part.data, SpillFile):
            file._spill = part.data
        else:
            file._data = part.data
        return file


FormValue = str | File


class FormData(MutableMapping[str, Any]):
    """Form fields and files in order (the SDK's ``FormData``; also JS ``FormData`` here).

    ``fd[key]`` is the first value (``None`` when absent, as JS ``get`` gives null);
    iteration yields keys; ``get_all`` returns every value of a key.
    """

    js_type_name = "FormData"

    def __init__(self, form_data: Any = None) -> None:
        self._entries: list[tuple[str, FormValue]] = []
        if not form_data:
            return
        if isinstance(form_data, FormData):
            self._entries = list(form_data._entries)
            return
        if isinstance(form_data, Mapping):
            items: Iterable[Any] = form_data.items()
        elif isinstance(form_data, (list, tuple)):
            items = form_data  # (name, value) pairs: JS `new FormData()` + appends, locally
        else:
            raise TypeError("Expected form_data to be a dict or an instance of FormData")
        for name, value in items:
            self.append(name, value)

    @property
    def js_object(self) -> FormData:
        return self

    @property
    def constructor(self) -> Any:
        from emulator.runtime.jsproxy import _Constructor

        return _Constructor("FormData")

    def append(self, key: str, value: Any, filename: str | None = None) -> None:
        self._entries.append((str(key), _form_value(value, filename)))

    def set(self, key: str, value: Any, filename: str | None = None) -> None:
        """JS ``set``: replace every value of ``key`` by one."""
        self.delete(key)
        self.append(key, value, filename)

    def delete(self, key: str) -> None:
        self._entries = [(k, v) for k, v in self._entries if k != key]

    def get(self, key: str, default: Any = None) -> Any:
        for k, value in self._entries:
            if k == key:
                return value
        return default

    def get_all(self, key: str) -> list[FormValue]:
        return [v for k, v in self._entries if k == key]

    getAll = get_all  # noqa: N815 - JS spelling

    def has(self, key: str) -> bool:
        return any(k == key for k, _ in self._entries)

    def __contains__(self, key: object) -> bool:
        return any(k == key for k, _ in self._entries)

    def __getitem__(self, key: str) -> Any:
        return self.get(key)

    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(value, list):
            raise TypeError("Expected single item in arguments to FormData.__setitem__")
        self.set(key, value)

    def __delitem__(self, key: str) -> None:
        self.delete(key)

    def keys(self) -> list[str]:  # type: ignore[override]  # lists, as the SDK's FormData returns
        return [k for k, _ in self._entries]

    def values(self) -> list[FormValue]:  # type: ignore[override]  # lists, as the SDK's FormData returns
        return [v for _, v in self._entries]

    def items(self) -> list[tuple[str, FormValue]]:  # type: ignore[override]  # lists, as the SDK's FormData returns
        return list(self._entries)

    entries = items

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._entries)

    def _pieces(self) -> tuple[list[builtins.bytes | File], str]:
        """The multipart/form-data encoding as bytes and files, and its content type."""
        boundary = "----cfemulator" + secrets.token_hex(12)
        out: list[builtins.bytes | File] = []
        for name, value in self._entries:
            out.append(f"--{boundary}\r\n".encode())
            qname = _quote_param(name)
            if isinstance(value, File):
                out.append(
                    f'Content-Disposition: form-data; name="{qname}"; filename="{_quote_param(value.name)}"\r\n'
                    f"Content-Type: {value.type or 'application/octet-stream'}\r\n\r\n".encode()
                )
                out.append(value)
            else:
                out.append(f'Content-Disposition: form-data; name="{qname}"\r\n\r\n'.encode())
                out.append(value.encode())
            out.append(b"\r\n")
        out.append(f"--{boundary}--\r\n".encode())
        return out, f"multipart/form-data; boundary={boundary}"

    def encode(self) -> tuple[bytes, str]:
        """The multipart/form-data body and its content type."""
        pieces, content_type = self._pieces()
        return b"".join(p if isinstance(p, bytes) else p._contents() for p in pieces), content_type

    def _on_disk(self) -> bool:
        return any(isinstance(v, File) and v._spill is not None for _, v in self._entries)

    def encode_stream(self) -> tuple[AsyncIterator[bytes], str]:
        """Like ``encode``, as chunks: disk-backed files are read a chunk at a time."""
        pieces, content_type = self._pieces()

        async def chunks() -> AsyncIterator[bytes]:
            for piece in pieces:
                if isinstance(piece, bytes):
                    yield piece
                else:
                    async for chunk in piece.stream():
                        yield chunk

        return chunks(), content_type

    def __repr__(self) -> str:
        return f"FormData({self._entries!r})"


def _quote_param(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _form_value(value: Any, filename: str | None) -> FormValue:
    if isinstance(value, File) and filename is None:
        return value
    if isinstance(value, Blob):
        file = File(None, filename or getattr(value, "name", None) or "blob", value.content_type)
        file._share(value)
        return file
    return str(value)


def _mime(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _form_from_entries(entries: list[FormEntry]) -> FormData:
    form = FormData()
    form._entries = [(name, value if isinstance(value, str) else File._from_part(value))
                     for name, value in entries]
    return form


async def parse_form(body: bytes, content_type: str | None) -> FormData:
    """Parse an ``application/x-www-form-urlencoded`` or ``multipart/form-data`` body.

    Multipart bodies go through aiohttp's ``MultipartReader`` (``emulator.runtime.body``),
    the same parser that reads uploads from the network, so both agree part for part.
    """
    mime = _mime(content_type)
    if mime == "application/x-www-form-urlencoded":
        return FormData(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
    if mime == "multipart/form-data":
        assert content_type is not None
        return _form_from_entries(await parse_multipart_bytes(body, content_type))
    raise TypeError(
        "Failed to parse body as FormData: content-type must be multipart/form-data or "
        f"application/x-www-form-urlencoded, got {content_type!r}"
    )


BodyInit = str | bytes | bytearray | memoryview | FormData | Blob | AsyncIterable[bytes] | None


# A body read once from where it comes from and shared by clones (``emulator.runtime.body``).
_BodySource = CallableBody


class ReadableStream:
    """A body as a stream (JS ``ReadableStream``): what ``request.body`` / ``response.body`` are.

    ``async for chunk in request.body`` yields ``Uint8Array`` chunks (``chunk.to_bytes()``),
    read incrementally from the network for incoming requests; ``getReader()`` gives JS's
    reader (``await reader.read()`` → ``{done, value}``). Reading it uses the body up.
    """

    js_type_name = "ReadableStream"

    def __init__(self, owner: _Body) -> None:
        self._owner = owner
        self._iterator: AsyncIterator[builtins.bytes] | None = None
        self.locked = False

    @property
    def constructor(self) -> Any:
        from emulator.runtime.jsproxy import _Constructor

        return _Constructor(self.js_type_name)

    def _chunks(self) -> AsyncIterator[builtins.bytes]:
        if self._iterator is None:
            owner = self._owner
            if owner.body_used:
                raise TypeError("This ReadableStream is disturbed (the body has already been read).")
            owner.body_used = True
            self._iterator = owner._body_chunks()
        return self._iterator

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._wrapped()

    async def _wrapped(self) -> AsyncIterator[Any]:
        from emulator.runtime.jsproxy import JsUint8Array

        async for chunk in self._chunks():
            if chunk:
                yield JsUint8Array(chunk)

    def getReader(self) -> ReadableStreamReader:  # noqa: N802 - JS spelling
        if self.locked:
            raise TypeError("ReadableStream is locked to a reader")
        self.locked = True
        return ReadableStreamReader(self)

    async def cancel(self, reason: Any = None) -> None:
        iterator = self._chunks()
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()

    def __repr__(self) -> str:
        return "ReadableStream { locked: %s }" % ("true" if self.locked else "false")


class ReadableStreamReader:
    """``stream.getReader()``: ``await reader.read()`` → ``{done, value}``."""

    def __init__(self, stream: ReadableStream) -> None:
        self._stream = stream
        self._iter: AsyncIterator[Any] | None = None

    async def read(self) -> Any:
        from emulator.runtime.jsproxy import JsObjectProxy

        if self._iter is None:
            self._iter = self._stream.__aiter__()
        try:
            value = await self._iter.__anext__()
        except StopAsyncIteration:
            return JsObjectProxy(done=True, value=None)
        return JsObjectProxy(done=False, value=value)

    def releaseLock(self) -> None:  # noqa: N802 - JS spelling
        self._stream.locked = False

    async def cancel(self, reason: Any = None) -> None:
        await self._stream.cancel(reason)


_STREAM_CHUNK = 64 * 1024


class _Body:
    """The body-reading half shared by ``Request`` and ``Response``."""

    _body: bytes | None
    _stream: AsyncIterable[bytes] | None
    _source: BodySource | None
    headers: Headers

    def _init_body(self, body: Any, headers: Headers) -> None:
        self._body = None
        self._stream = None
        self._source = None
        self.body_used = False
        if body is None:
            return
        if isinstance(body, str):
            self._body = body.encode()
            if "content-type" not in headers._h:
                headers._writable()["content-type"] = TEXT_PLAIN
        elif isinstance(body, (bytes, bytearray, memoryview)):
            self._body = bytes(body)
        elif isinstance(body, FormData):
            if body._on_disk():  # an uploaded file kept on disk is streamed, not loaded
                self._stream, ctype = body.encode_stream()
            else:
                self._body, ctype = body.encode()
            if "content-type" not in headers:
                headers.set("content-type", ctype)
        elif isinstance(body, Blob):
            if body._spill is not None:
                self._stream = body.stream()
            else:
                self._body = body._data
            if body.type and "content-type" not in headers:
                headers.set("content-type", body.type)
        elif isinstance(body, _BodySource):
            self._source = body
        elif isinstance(body, ReadableStream):
            self._stream = body._chunks()  # another body's stream, passed through
        elif isinstance(body, AsyncIterable):
            self._stream = body
        elif hasattr(body, "__cf_body__"):
            # JS body types defined by the `js` shim (URLSearchParams): bytes + content type.
            self._body, ctype = body.__cf_body__()
            if ctype and "content-type" not in headers:
                headers.set("content-type", ctype)
        else:
            # The SDK's message; the hint is ours.
            hint = " (for JSON use Response.json(data))" if isinstance(body, (dict, list)) else ""
            raise TypeError(f"Unsupported type in Response: {type(body).__name__}{hint}")

    @property
    def bodyUsed(self) -> bool:  # noqa: N802 - JS spelling
        return self.body_used

    @property
    def body(self) -> ReadableStream | None:
        """The body as a JS ``ReadableStream`` (``None`` for a null body)."""
        d = self.__dict__
        stream = d.get("_readable")
        if stream is None:
            if self._body is None and self._source is None and self._stream is None:
                return None
            stream = d["_readable"] = ReadableStream(self)
        return stream

    async def _body_chunks(self) -> AsyncIterator[builtins.bytes]:
        """The body in chunks, without buffering what is not buffered already."""
        if self._body is not None:
            data = self._body
            for start in range(0, len(data), _STREAM_CHUNK):
                yield data[start:start + _STREAM_CHUNK]
        elif self._source is not None:
            yield await self._source.get()
        elif self._stream is not None:
            stream, self._stream = self._stream, None
            async for chunk in stream:
                yield chunk.encode() if isinstance(chunk, str) else bytes(chunk)

    def _raise_if_used(self) -> None:
        if self.body_used:
            raise OSError("Body already used")

    async def bytes(self) -> builtins.bytes:
        self._raise_if_used()
        self.body_used = True
        if self._body is not None:
            return self._body
        if self._source is not None:
            self._body = await self._source.get()
            return self._body
        if self._stream is not None:
            chunks = [bytes(c.encode() if isinstance(c, str) else c) async for c in self._stream]
            self._stream = None
            self._body = b"".join(chunks)
            return self._body
        return b""

    async def text(self) -> str:
        return (await self.bytes()).decode("utf-8", errors="replace")

    async def _read_json(self, **kwargs: Any) -> Any:
        return _json.loads(await self.bytes(), **kwargs)

    async def buffer(self) -> Any:
        """The body as a JS ``ArrayBuffer`` (``.to_bytes()`` on it is valid)."""
        from emulator.runtime.jsproxy import JsArrayBuffer

        return JsArrayBuffer(await self.bytes())

    arrayBuffer = buffer  # noqa: N815 - JS spelling
    array_buffer = buffer

    async def memoryview(self) -> builtins.memoryview:
        return builtins.memoryview(await self.bytes())

    async def blob(self) -> Blob:
        return Blob(await self.bytes(), self.headers.get("content-type") or "")

    async def form_data(self) -> FormData:
        content_type = self.headers.get("content-type")
        source = self._source
        if self._body is None and source is not None and _mime(content_type) == "multipart/form-data":
            # An upload still on the wire is parsed as it arrives (file parts may spill to
            # disk) rather than read whole first.
            entries = await source.read_form(content_type)
            if entries is not None:
                self.body_used = True
                return _form_from_entries(entries)
        return await parse_form(await self.bytes(), content_type)

    async def formData(self) -> FormData:  # noqa: N802 - JS spelling
        return await self.form_data()

    def _clone_body(self) -> Any:
        if self._stream is not None:
            raise TypeError("cannot clone a streaming body; read it with `await bytes()` first")
        return self._source if self._body is None and self._source is not None else self._body


# Request properties workerd gives fixed values (the Fetch standard's defaults).
_REQUEST_DEFAULTS = {"cache": "default", "credentials": "same-origin", "destination": "", "integrity": "",
                     "keepalive": False, "mode": "cors", "referrer": "about:client", "referrer_policy": ""}


class Request(_Body):
    """An HTTP request: the SDK's ``workers.Request``, which is also the JS ``Request`` here.

    ``Request(input, **other_options)`` takes ``method``, ``headers``, ``body``,
    ``redirect`` and ``cf`` (the SDK's ``FetchKwargs``); ``request.js_object`` is the
    request itself.
    """

    cf: JsObject
    redirect: str

    def __init__(self, input: str | Request, **other_options: Any) -> None:
        method = other_options.pop("method", None)
        headers = other_options.pop("headers", None)
        has_body = "body" in other_options
        body = other_options.pop("body", None)
        cf = other_options.pop("cf", None)
        redirect = other_options.pop("redirect", None) or "follow"
        if isinstance(input, Request):
            base = input
            url = base.url
            method = method or str(base.method)
            if headers is None:
                headers = base.headers
            if body is None and not has_body:
                body = base._clone_body()
            cf = cf if cf is not None else base.cf
            redirect = base.redirect if redirect == "follow" else redirect
        else:
            url = str(input)
        upper = (method or "GET").upper()
        self.method: http.HTTPMethod | str = _METHODS.get(upper, upper)
        self.url: str = url
        self.headers = Headers(headers)
        if body is not None and upper in ("GET", "HEAD"):
            raise TypeError("Request with a GET or HEAD method cannot have a body.")
        self._init_body(body, self.headers)
        self.cf = JsObject(cf or {})
        self.redirect = redirect

    @property
    def js_object(self) -> Request:
        return self

    _js_request = js_object

    cache = property(lambda self: _REQUEST_DEFAULTS["cache"])
    credentials = property(lambda self: _REQUEST_DEFAULTS["credentials"])
    destination = property(lambda self: _REQUEST_DEFAULTS["destination"])
    integrity = property(lambda self: _REQUEST_DEFAULTS["integrity"])
    keepalive = property(lambda self: _REQUEST_DEFAULTS["keepalive"])
    mode = property(lambda self: _REQUEST_DEFAULTS["mode"])
    referrer = property(lambda self: _REQUEST_DEFAULTS["referrer"])
    referrer_policy = property(lambda self: _REQUEST_DEFAULTS["referrer_policy"])
    referrerPolicy = referrer_policy  # noqa: N815 - JS spelling
    is_history_navigation = property(lambda self: False)
    isHistoryNavigation = is_history_navigation  # noqa: N815 - JS spelling

    async def json(self, **kwargs: Any) -> Any:
        return await self._read_json(**kwargs)

    def clone(self) -> Request:
        if self.body_used:
            raise OSError("Body already used")
        return Request(self)

    def __repr__(self) -> str:
        return f"Request(method={str(self.method)!r}, url={self.url!r})"


class FetchResponse(_Body):
    """An HTTP response: the SDK's ``FetchResponse`` (base of ``workers.Response``).

    The same object is also the JS ``Response`` here: ``js_object`` / ``js_response`` are
    the response itself, and JS members (``statusText``, ``arrayBuffer()``) work too.
    """

    def __init__(self, body: Any = None, status: int | http.HTTPStatus | None = None, status_text: str = "",
                 headers: Any = None, web_socket: Any = None) -> None:
        self.url = ""
        self.web_socket = web_socket
        if isinstance(body, FetchResponse):
            # `Response(js_response)`: the same response as an SDK object.
            if status is not None or status_text or headers is not None:
                raise ValueError("Expected no options when constructing Response from a js.Response")
            self._adopt(body)
            return
        if not status:  # None, 0: the runtime's default
            self.status = 200
        else:
            self.status = status = int(status)
            if not 200 <= status <= 599 and status != 101:
                raise ValueError(f"Response status must be in the range 200 to 599, got {status}")
        self.status_text = status_text
        # `None` first: Headers is a MutableMapping, so isinstance goes through the ABC
        # machinery, and most responses pass no headers.
        if headers is None:
            headers = Headers()
        elif not isinstance(headers, Headers):
            headers = Headers(headers)
        self.headers = headers
        if body is not None and self.status in _NULL_BODY_STATUSES:
            raise TypeError(f"Response with null body status {self.status} cannot have a body.")
        self._init_body(body, headers)

    def _adopt(self, other: FetchResponse) -> None:
        self.status = other.status
        self.status_text = other.status_text
        self.headers = other.headers
        self.url = other.url
        self.web_socket = other.web_socket
        self._body, self._stream, self._source = other._body, other._stream, other._source
        self.body_used = other.body_used
        extra = other.__dict__.get("encode_body")
        if extra is not None:
            self.encode_body = extra

    @property
    def js_object(self) -> FetchResponse:
        return self

    js_response = js_object

    @property
    def redirected(self) -> bool:
        return False

    @property
    def type(self) -> str:
        return "default"

    @staticmethod
    def from_json(data: Any, status: int | http.HTTPStatus = http.HTTPStatus.OK, status_text: str = "",
                  headers: Any = None) -> Response:
        hdrs = Headers(headers)
        if "content-type" not in hdrs:
            hdrs.set("content-type", APPLICATION_JSON)
        return Response(_json.dumps(data, default=_json_default), status=status, status_text=status_text,
                        headers=hdrs)

    # Two methods in one, as in the SDK: the overloads tell them apart by what `self` is.
    @overload
    def json(self: FetchResponse) -> Awaitable[Any]: ...

    @overload
    def json(self: Any, status: int | http.HTTPStatus = ..., status_text: str = ...,
             headers: Any = ...) -> Response: ...

    def json(self: Any, *args: Any, **kwargs: Any) -> Any:
        """``await resp.json()`` parses the body; ``Response.json(data, ...)`` (on the class)
        builds a JSON response, as in the SDK."""
        if isinstance(self, FetchResponse):
            return self._read_json()
        return Response.from_json(self, *args, **kwargs)

    @staticmethod
    def redirect(url: str, status: int | http.HTTPStatus = http.HTTPStatus.FOUND) -> Response:
        code = int(status)
        if code not in _REDIRECT_STATUSES:
            raise ValueError(f"Invalid redirect status {code}: use 301, 302, 303, 307 or 308")
        return Response(None, status=code, headers={"location": str(url)})

    @property
    def ok(self) -> bool:
        return 200 <= self.status <= 299

    @property
    def statusText(self) -> str:  # noqa: N802 - JS spelling
        return self.status_text

    def raise_for_status(self) -> None:
        """``OSError`` for a 4xx/5xx status (Pyodide's ``FetchResponse.raise_for_status``)."""
        if 400 <= self.status < 500:
            raise OSError(f"{self.status} Client Error: {self.status_text} for url: {self.url}")
        if 500 <= self.status < 600:
            raise OSError(f"{self.status} Server Error: {self.status_text} for url: {self.url}")

    def replace_body(self, body: Any) -> Response:
        """A new ``Response`` with this one's status and headers and another body."""
        return Response(body, status=self.status, status_text=self.status_text, headers=self.headers.copy())

    def clone(self) -> Response:
        if self.body_used:
            raise OSError("Body already used")
        copy = Response(self._clone_body(), status=self.status, status_text=self.status_text,
                        headers=self.headers.copy())
        copy.url = self.url
        return copy

    def __repr__(self) -> str:
        parts = [f"status={self.status}"]
        if self.status_text:
            parts.append(f"status_text={self.status_text!r}")
        if "content-type" in self.headers:
            parts.append(f"content_type={self.headers['content-type']!r}")
        if self.url:
            parts.append(f"url={self.url!r}")
        return f"Response({', '.join(parts)})"


class Response(FetchResponse):
    """The SDK's ``workers.Response`` (``Response(body, status, status_text, headers, web_socket)``)."""


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def resolve_url(url: str, base: str) -> str:
    """Resolve a possibly relative URL against ``base`` (JS ``new URL(url, base)``)."""
    return urljoin(base, url)


async def fetch(resource: str | Request, **other_options: Any) -> Response:
    """Outbound HTTP (the SDK's ``workers.fetch`` and the global ``fetch``), over aiohttp.

    ``other_options`` are the SDK's ``FetchKwargs`` (``method``, ``headers``, ``body``,
    ``redirect``, ``cf``; ``fetcher`` sends the request to another fetch function, as
    binding stubs do). A network failure raises ``OSError``, as Pyodide's ``pyfetch`` does.
    """
    import aiohttp

    fetcher = other_options.pop("fetcher", None)
    request = resource if isinstance(resource, Request) and not other_options \
        else Request(resource, **other_options)
    if fetcher is not None:
        result = fetcher(request)
        if hasattr(result, "__await__"):
            result = await result
        return result if isinstance(result, Response) else Response(result)
    redirect = request.redirect
    data = await request.bytes() if str(request.method) not in ("GET", "HEAD") else None
    try:
        async with aiohttp.ClientSession(auto_decompress=True) as session:
            async with session.request(
                str(request.method), request.url, headers=request.headers.raw_items(), data=data,
                allow_redirects=(redirect != "manual"),
            ) as upstream:
                payload = await upstream.read()
                # The body is already decoded; keep the length/encoding headers from lying about it.
                out_headers = [(k, v) for k, v in upstream.headers.items()
                               if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
                response = Response(payload if upstream.status not in _NULL_BODY_STATUSES else None,
                                    status=upstream.status, status_text=upstream.reason or "",
                                    headers=out_headers)
                response.url = str(upstream.url)
                return response
    except aiohttp.ClientError as exc:
        raise OSError(f"fetch to {request.url} failed: {exc}") from exc
