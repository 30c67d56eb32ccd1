"""Incoming request bodies: the platform's size limit, incremental reads, streamed forms.

Cloudflare's edge refuses a request body larger than the zone plan's limit (100 MB on the
Free and Pro plans) with ``413 Request Entity Too Large``; the emulator applies the same
limit to every app port (docs/hosting.md, "Request bodies"):

- a declared ``Content-Length`` over the limit is answered 413 before the app runs
  (``BaseHost.handle``), as the edge does;
- a body without a declared length (``Transfer-Encoding: chunked``) is counted as it
  arrives: once the count passes the limit reading stops, the app's read raises
  ``RequestBodyTooLarge`` and the client gets the 413 whatever the app answered.

Nothing here holds a whole body in memory unless the app asks for all of it at once
(``bytes()``, ``text()``, ``json()``, url-encoded forms: bounded by the limit).
``multipart/form-data`` is read part by part from the socket with aiohttp's
``MultipartReader``: a text field stays in memory (capped per field), a file part stays in
memory up to ``spill_threshold`` and then moves to an anonymous temporary file
(``SpillFile``) under the state directory's ``tmp/``. Those files have no name on Linux
(``O_TMPFILE``) and are closed when the request and the ``waitUntil`` work it started are
done, so nothing is left behind, not even after ``kill -9``.

``BodySource`` is the seam app-facing objects (``emulator.runtime.http``) read through:
``get()`` (the whole body, cached for a request's clones), ``chunks()`` (incremental, for
streaming readers) and ``read_form()`` (a streamed multipart parse).
"""

from __future__ import annotations

import asyncio
import email.message
import email.utils
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import AsyncIterator, Awaitable, Callable

from emulator.errors import EmulatorError

if TYPE_CHECKING:
    from aiohttp import StreamReader, web

# Cloudflare's request body limit on the Free and Pro plans ("100 MB", docs/hosting.md).
# The exact byte figure is not published: we read it as decimal megabytes, the lower of the
# two readings, so an upload accepted here is never refused by the edge for its size.
DEFAULT_REQUEST_BODY_LIMIT = 100_000_000
# A file part bigger than this moves from memory to a temporary file.
SPILL_THRESHOLD = 1 << 20
# File parts of one form kept in memory together, at most: past it every part spills.
MEMORY_BUDGET = 16 << 20
# One text field (no filename: the app gets a ``str``). Not a Cloudflare limit: the
# emulator's guard against a huge body of text held as Python strings (docs/hosting.md).
MAX_TEXT_FIELD = 16 << 20
# Bytes asked of the socket (or of a spill file) per read.
READ_CHUNK = 256 << 10
# Spill writes are batched to this size and made in a worker thread.
WRITE_BATCH = 1 << 20
# A parse that finds all its bytes already buffered yields to the event loop this often,
# so one big form cannot stall the other apps (the loop is shared by every hosted app).
_YIELD_EVERY = 4 << 20

# What Cloudflare's edge answers (its nginx-style error page, served as text/html).
TOO_LARGE_STATUS = 413
TOO_LARGE_REASON = "Request Entity Too Large"
TOO_LARGE_HTML = (
    "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
    "<center><h1>413 Request Entity Too Large</h1></center>\r\n"
    "<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)

_FORM_ERROR = "Failed to parse body as FormData: "


class RequestBodyTooLarge(EmulatorError, TypeError):
    """A read passed the request body limit; the client is answered 413 whatever the app does.

    Also a ``TypeError`` because that is how the Workers runtime surfaces a failed body read
    to Python code (the SDK turns the JS ``TypeError`` into Python's), so app code catches it
    as one.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body is larger than the request size limit ({limit} bytes); "
                         "the client is answered 413 Request Entity Too Large.")
        self.limit = limit


class SpillClosedError(EmulatorError, RuntimeError):
    """A disk-backed ``File`` read after its request ended (its temporary file is gone).

    Also a ``RuntimeError``: reading a closed file is a misuse in time, which app code
    (and Python's own closed-file errors) treat as one.
    """


@dataclass
class BodyCounters:
    """What the request bodies of this process did (``/_emulator/health`` → ``request_bodies``)."""

    rejected: int = 0  # requests answered 413 (declared or counted)
    spilled_parts: int = 0  # file parts moved to disk
    spilled_bytes: int = 0
    open_spill_files: int = 0
    # The most bytes of one request's body held in memory at once by a reader of ours
    # (a whole-body read counts entirely; a streamed form counts its in-memory parts).
    peak_buffered: int = 0
    # The most bytes received from one request when it was stopped at the limit.
    peak_received_at_rejection: int = 0


@dataclass
class RequestBodies:
    """The platform's policy for incoming bodies (limit, spilling) and its counters."""

    limit: int = DEFAULT_REQUEST_BODY_LIMIT
    # Where spill files go; None: the system's temporary directory.
    spill_dir: Path | None = None
    spill_threshold: int = SPILL_THRESHOLD
    memory_budget: int = MEMORY_BUDGET
    max_text_field: int = MAX_TEXT_FIELD
    counters: BodyCounters = field(default_factory=BodyCounters)

    def health(self) -> dict[str, Any]:
        c = self.counters
        return {"limit": self.limit, "spill_threshold": self.spill_threshold,
                "spill_dir": str(self.spill_dir) if self.spill_dir is not None else None,
                "rejected": c.rejected, "spilled_parts": c.spilled_parts, "spilled_bytes": c.spilled_bytes,
                "open_spill_files": c.open_spill_files, "peak_buffered": c.peak_buffered,
                "peak_received_at_rejection": c.peak_received_at_rejection}

    def note_buffered(self, size: int) -> None:
        if size > self.counters.peak_buffered:
            self.counters.peak_buffered = size


# --- spill files ---------------------------------------------------------------------------

class SpillFile:
    """The bytes of one uploaded file part, in an anonymous temporary file.

    Written once by the form parser (``write`` then ``finish``), then read any number of
    times, concurrently, with ``os.pread`` (no shared file position). Reads of more than a
    chunk run in a worker thread. ``close`` frees the disk space at once.
    """

    def __init__(self, bodies: RequestBodies) -> None:
        directory = bodies.spill_dir
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        # TemporaryFile: O_TMPFILE on Linux (never has a name), unlinked at once elsewhere.
        self._file = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - owned by this object until close()
        self._fd = self._file.fileno()
        self._counters = bodies.counters
        self.size = 0
        self.closed = False
        bodies.counters.spilled_parts += 1
        bodies.counters.open_spill_files += 1

    async def write(self, data: bytes) -> None:
        if len(data) >= READ_CHUNK:
            await asyncio.to_thread(self._write, data)
        else:
            self._write(data)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.size += len(data)
        self._counters.spilled_bytes += len(data)

    def _check_open(self) -> None:
        if self.closed:
            raise SpillClosedError(
                "this uploaded file was kept on disk by cf-emulator and deleted when its request "
                "ended; read it (bytes(), text(), stream()) while the request or its waitUntil work runs")

    def read_range(self, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` (blocking; fewer at the end of the file)."""
        self._check_open()
        parts: list[bytes] = []
        end = min(self.size, offset + length)
        while offset < end:
            data = os.pread(self._fd, end - offset, offset)
            if not data:
                break
            parts.append(data)
            offset += len(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read_all_blocking(self) -> bytes:
        return self.read_range(0, self.size)

    async def read_all(self) -> bytes:
        self._check_open()
        return await asyncio.to_thread(self.read_range, 0, self.size)

    async def chunks(self, size: int = SPILL_THRESHOLD) -> AsyncIterator[bytes]:
        offset = 0
        while offset < self.size:
            data = await asyncio.to_thread(self.read_range, offset, size)
            if not data:
                return
            offset += len(data)
            yield data

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._file.close()
            self._counters.open_spill_files -= 1

    def __repr__(self) -> str:
        return f"<SpillFile size={self.size}{' closed' if self.closed else ''}>"


# --- multipart/form-data, part by part ----------------------------------------------------

@dataclass(frozen=True)
class FilePart:
    """A file part of a form: its bytes in memory or in a ``SpillFile``."""

    data: bytes | SpillFile
    filename: str
    content_type: str


FormEntry = tuple[str, str | FilePart]


class _NoFlowControl:
    """The protocol side of a ``StreamReader`` fed from memory: nothing to pause."""

    def pause_reading(self) -> None:
        pass

    def resume_reading(self, *args: Any, **kwargs: Any) -> None:
        pass


def _memory_stream(data: bytes) -> StreamReader:
    """``data`` as an aiohttp ``StreamReader`` at EOF, for ``MultipartReader``."""
    from aiohttp import StreamReader

    stream = StreamReader(_NoFlowControl(), max(len(data), 1 << 16),  # type: ignore[arg-type]  # aiohttp's StreamReader only calls the protocol's flow-control hooks
                          loop=asyncio.get_running_loop())
    if data:
        stream.feed_data(data)
    stream.feed_eof()
    return stream


class _CheckedStream:
    """A ``StreamReader`` whose every read runs ``check`` (the running count vs the limit).

    ``MultipartReader`` loops over the stream on its own (preamble lines, part headers, a
    part's bytes up to the next boundary); checking after each of its reads stops a body
    over the limit wherever in the form it happens to be.
    """

    def __init__(self, stream: StreamReader, check: Callable[[], None]) -> None:
        self._stream = stream
        self._check = check

    async def read(self, n: int = -1) -> bytes:
        data = await self._stream.read(n)
        self._check()
        return data

    async def readline(self, *args: Any, **kwargs: Any) -> bytes:
        data = await self._stream.readline(*args, **kwargs)
        self._check()
        return data

    async def readany(self) -> bytes:
        data = await self._stream.readany()
        self._check()
        return data

    def __getattr__(self, name: str) -> Any:  # at_eof, unread_data, exception, ...
        return getattr(self._stream, name)


def _form_error(reason: str) -> TypeError:
    return TypeError(_FORM_ERROR + reason)


def _text(value: str) -> str:
    """A header value as workerd decodes it: UTF-8, U+FFFD for bytes that are not."""
    return value if value.isascii() else value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _disposition(header: str | None) -> tuple[str, str | None]:
    """A part's ``name`` and ``filename`` (None for a text field) from its Content-Disposition.

    Read with the standard library's MIME header parameters (quoted strings, RFC 2231
    ``filename*=``), which keep the values as sent; aiohttp's own reader of the header
    strips leading slashes and backslashes from every value, names included. Bytes that
    are not UTF-8 become U+FFFD, as in workerd.
    """
    if header is None:
        raise _form_error("a part has no Content-Disposition header")
    message = email.message.Message()
    message["content-disposition"] = _text(header)
    if message.get_content_disposition() != "form-data":
        raise _form_error(f"a part's Content-Disposition must be form-data, got {header!r}")
    name = message.get_param("name", header="content-disposition")
    if name is None:
        raise _form_error("a part's Content-Disposition header has no name")
    # get_param, not get_filename: that one strips whitespace, which workerd keeps.
    filename = message.get_param("filename", header="content-disposition")
    return (email.utils.collapse_rfc2231_value(name),
            None if filename is None else email.utils.collapse_rfc2231_value(filename))


async def read_multipart(stream: StreamReader | _CheckedStream, content_type: str,
                         bodies: RequestBodies | None, spills: list[SpillFile] | None = None,
                         on_buffered: Callable[[int], None] | None = None) -> list[FormEntry]:
    """The fields and files of a ``multipart/form-data`` body read from ``stream``, in order.

    File parts spill to disk past ``bodies.spill_threshold`` when ``spills`` is given (the
    list receives every ``SpillFile`` made, for the caller to close); without it (a body
    already in memory) they stay in memory. Malformed input raises ``TypeError`` in the
    runtime's words; ``RequestBodyTooLarge`` from the stream passes through. On any error
    the spill files made so far are closed.
    """
    from aiohttp import BodyPartReader, MultipartReader

    policy = bodies or RequestBodies()
    made: list[SpillFile] = []
    try:
        try:
            reader = MultipartReader({"Content-Type": content_type}, stream)  # type: ignore[arg-type]  # aiohttp's MultipartReader reads any async byte stream
        except (AssertionError, ValueError, KeyError) as exc:
            raise _form_error(f"bad multipart/form-data content type ({exc})") from None
        entries: list[FormEntry] = []
        held = 0  # bytes of this form kept in memory
        since_yield = 0
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                raise _form_error("a part is itself multipart; FormData parts must be fields or files")
            name, filename = _disposition(part.headers.get("Content-Disposition"))
            to_disk = spills is not None
            buffer = bytearray()
            spill: SpillFile | None = None
            empty_reads = 0
            while not part.at_eof():
                chunk = await part.read_chunk(READ_CHUNK)
                if not chunk:
                    # aiohttp raises on reads past the end; this only guards against a loop.
                    empty_reads += 1
                    if empty_reads > 3:
                        raise _form_error("truncated multipart body (no closing boundary)")
                    continue
                since_yield += len(chunk)
                if since_yield >= _YIELD_EVERY:
                    since_yield = 0
                    await asyncio.sleep(0)
                if filename is None:
                    buffer += chunk
                    if len(buffer) > policy.max_text_field:
                        raise _form_error(
                            f'the text field "{name}" is larger than {policy.max_text_field} bytes, '
                            "cf-emulator's cap for one text field; send big values as a file part")
                    continue
                if spill is None and to_disk and (len(buffer) + len(chunk) > policy.spill_threshold
                                                  or held + len(buffer) + len(chunk) > policy.memory_budget):
                    spill = SpillFile(policy)
                    made.append(spill)
                buffer += chunk
                if spill is not None and len(buffer) >= WRITE_BATCH:
                    await spill.write(bytes(buffer))
                    buffer.clear()
                if on_buffered is not None:
                    on_buffered(held + len(buffer))
            if filename is None:
                held += len(buffer)
                entries.append((name, buffer.decode("utf-8", errors="replace")))
            else:
                ctype = _text(part.headers.get("Content-Type") or "application/octet-stream")
                if spill is not None:
                    if buffer:
                        await spill.write(bytes(buffer))
                    entries.append((name, FilePart(spill, filename, ctype)))
                else:
                    held += len(buffer)
                    entries.append((name, FilePart(bytes(buffer), filename, ctype)))
            if on_buffered is not None:
                on_buffered(held)
        if spills is not None:
            spills.extend(made)
        return entries
    except (RequestBodyTooLarge, asyncio.CancelledError):
        for spill in made:
            spill.close()
        raise
    except TypeError as exc:
        for spill in made:
            spill.close()
        if str(exc).startswith(_FORM_ERROR):
            raise
        raise _form_error(f"malformed multipart body ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - aiohttp's ValueError/RuntimeError/BadHttpMessage, a lost client...
        for spill in made:
            spill.close()
        raise _form_error(f"malformed multipart body ({type(exc).__name__}: {exc})") from None


async def parse_multipart_bytes(body: bytes, content_type: str) -> list[FormEntry]:
    """``read_multipart`` over a body already in memory (parts stay in memory)."""
    return await read_multipart(_memory_stream(body), content_type, None)


# --- body sources ------------------------------------------------------------------------

class BodySource:
    """A request body read at most once from where it comes from, shared by a request's clones.

    ``get()`` reads it whole (and keeps it for the clones); ``chunks()`` and ``read_form()``
    consume it incrementally, after which ``get()`` refuses (``Body already used``).
    """

    __slots__ = ()

    #: True once a read passed the request body limit (the client gets a 413).
    exceeded: bool = False
    #: The whole body once read (each subclass keeps it in a slot of its own).
    _data: bytes | None

    async def get(self) -> bytes:
        raise NotImplementedError

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body in pieces as they arrive (all at once when it is in memory)."""
        data = await self.get()
        if data:
            yield data

    async def read_form(self, content_type: str) -> list[FormEntry] | None:
        """A multipart form parsed as the body arrives, or None: parse ``get()``'s bytes instead."""
        return None

    def release(self) -> None:
        """Free what the body holds outside memory (spill files); reads afterwards fail."""

    @property
    def spilled(self) -> bool:
        return False


class CallableBody(BodySource):
    """A body produced by an awaitable callable, read once (tests, relayed bodies)."""

    __slots__ = ("_read", "_data")

    def __init__(self, read: Callable[[], Awaitable[bytes]]) -> None:
        self._read: Callable[[], Awaitable[bytes]] | None = read
        self._data: bytes | None = None

    async def get(self) -> bytes:
        if self._data is None:
            assert self._read is not None
            self._data = await self._read()
            self._read = None
        return self._data


class NetworkBody(BodySource):
    """The body of an incoming aiohttp request, read under the platform's size limit."""

    __slots__ = ("_stream", "_bodies", "_data", "_entries", "_taken", "exceeded", "_spills", "_expecting")

    def __init__(self, request: web.BaseRequest, bodies: RequestBodies) -> None:
        self._stream: StreamReader = request.content
        # A client that sent `Expect: 100-continue` (curl does for bodies over 1 MiB) waits
        # for the go-ahead; app traffic bypasses aiohttp's router, which would send it.
        expect = request.headers.get("Expect")
        self._expecting = request if expect is not None and expect.lower() == "100-continue" else None
        self._bodies = bodies
        self._data: bytes | None = None
        self._entries: list[FormEntry] | None = None
        self._taken = False
        self.exceeded = False
        self._spills: list[SpillFile] = []

    @property
    def limit(self) -> int:
        return self._bodies.limit

    @property
    def received(self) -> int:
        """Bytes received from the client so far (read or buffered by aiohttp)."""
        return int(self._stream.total_bytes)

    def _check(self) -> None:
        # aiohttp counts what the client sent (after de-chunking and decompression), read
        # or still buffered: its buffer is bounded, so the count never runs far ahead.
        received = self._stream.total_bytes
        if received > self._bodies.limit:
            if not self.exceeded:
                self.exceeded = True
                counters = self._bodies.counters
                counters.peak_received_at_rejection = max(counters.peak_received_at_rejection, received)
            raise RequestBodyTooLarge(self._bodies.limit)

    async def _take(self) -> None:
        if self.exceeded:
            raise RequestBodyTooLarge(self._bodies.limit)
        if self._taken:
            raise OSError("Body already used: the request body was read as a stream (form_data() "
                          "of a multipart upload, or a streamed read); it cannot be read again")
        self._taken = True
        request, self._expecting = self._expecting, None
        if request is not None and request.version >= (1, 1):
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0  # the response proper has not started

    async def get(self) -> bytes:
        if self._data is not None:
            return self._data
        await self._take()
        parts: list[bytes] = []
        size = 0
        stream = self._stream
        while True:
            chunk = await stream.readany()
            self._check()
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
        self._bodies.note_buffered(size)
        self._data = parts[0] if len(parts) == 1 else b"".join(parts)
        return self._data

    async def chunks(self) -> AsyncIterator[bytes]:
        if self._data is not None:
            if self._data:
                yield self._data
            return
        await self._take()
        stream = self._stream
        while True:
            chunk = await stream.readany()
            self._check()
            if not chunk:
                return
            yield chunk

    async def read_form(self, content_type: str) -> list[FormEntry] | None:
        if self._entries is not None:
            return self._entries
        if self._data is not None:
            return None
        await self._take()
        self._entries = await read_multipart(_CheckedStream(self._stream, self._check), content_type,
                                             self._bodies, self._spills, self._bodies.note_buffered)
        return self._entries

    @property
    def spilled(self) -> bool:
        return bool(self._spills)

    def release(self) -> None:
        spills, self._spills = self._spills, []
        for spill in spills:
            spill.close()
