"""Streaming Parquet compaction over an R2 bucket binding.

Everything the `DataCompactionWorkflow` does to bytes lives here: footer-only schema reads
(two small range reads per fragment, never the whole object), grouping by the full Arrow
schema, and a merge that streams one row group at a time from R2 into a zstd
``ParquetWriter`` whose output goes to R2 in multipart parts, dropping exact duplicate rows
on the way.

The module takes the bucket as an argument and imports neither ``workers`` nor anything
platform-specific, so the same code runs under Cloudflare, under the emulator, in unit
tests and in ``bench/compaction.py``. The bucket only needs the R2 binding methods
``get(key, range=...)``, ``head``, ``delete`` and ``createMultipartUpload``.

Memory bound of a merge (docs/demo-apps.md, "The compaction pipeline"): one input fragment, one output
row group being assembled (``ROW_GROUP_ROWS`` rows at most) and one being encoded, the
output's partial part plus ``MAX_QUEUED_PARTS`` cut parts (``PART_SIZE`` each), plus the
de-duplication set: one 128-bit fingerprint per *distinct* row, 16 bytes each in memory
(``row_fingerprint.DigestSet``) up to ``DEDUP_MEMORY_ROWS``, then spilled to SQLite on disk.
Inputs are read one fragment at a time: in memory up to ``IN_MEMORY_MAX``, spooled to a
temporary file above it, so input size only costs disk. The output is never spooled: it goes
from the Parquet writer straight into the multipart upload of the final key.
(On Cloudflare's Pyodide runtime ``tempfile`` is an in-memory filesystem: there the spool
costs memory, and a production deployment would size fragments and groups to the 128 MB
isolate limit or stream ranged reads instead; the code path is the same.)
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import hashlib
import struct
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from row_fingerprint import DigestSet, RowFingerprinter

MAGIC = b"PAR1"
# R2 multipart: every part but the last must be >= 5 MiB and all non-last parts must have
# the same size (R2 answers BadUpload otherwise), so parts are cut at exactly PART_SIZE.
PART_SIZE = 8 * 1024 * 1024
# Cut parts waiting for upload before the encoder waits (memory: this many parts + one).
MAX_QUEUED_PARTS = 1
# One suffix read of this size usually holds the whole footer: one R2 call per fragment.
FOOTER_PROBE = 64 * 1024
ROW_GROUP_ROWS = 128 * 1024
# Distinct rows whose fingerprints stay in memory (16 bytes each, twice that while the largest
# runs merge); more spill to SQLite on disk.
DEDUP_MEMORY_ROWS = 1_200_000
ROW_GROUP_BYTES = 16 * 1024 * 1024
READ_BATCH_ROWS = 8 * 1024
# A batch with duplicates keeps its other rows as zero-copy slices up to this many runs.
MAX_SLICES = 16
# Rows of the first row group sampled to choose dictionary-encoded columns.
DICTIONARY_SAMPLE_ROWS = 16 * 1024
# Fragments up to this size are read into memory in one get; larger ones spool to disk.
IN_MEMORY_MAX = 16 * 1024 * 1024


class FragmentError(Exception):
    """A fragment that cannot be compacted (empty, truncated, not Parquet, missing).

    The workflow quarantines such fragments instead of failing the run.
    """

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


@dataclass
class FooterInfo:
    key: str
    size: int
    rows: int
    row_groups: int
    fingerprint: str
    schema: pa.Schema


@dataclass
class MergeResult:
    key: str
    rows_in: int = 0
    rows_out: int = 0
    duplicates_dropped: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    row_groups_out: int = 0
    merged: list[str] = field(default_factory=list)
    quarantined: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key, "rowsIn": self.rows_in, "rowsOut": self.rows_out,
            "duplicatesDropped": self.duplicates_dropped, "bytesIn": self.bytes_in,
            "bytesOut": self.bytes_out, "rowGroups": self.row_groups_out,
            "merged": list(self.merged), "quarantined": dict(self.quarantined),
        }


# --------------------------------------------------------------------------- schemas

def canonical_schema(schema: pa.Schema) -> pa.Schema:
    """The group schema: names and types only (no metadata, every field nullable).

    Grouping by the full schema, not by column count or physical types, fixes the
    original's merging of different tables whose physical type signature matched.
    """
    return pa.schema([pa.field(f.name, f.type, nullable=True) for f in schema])


def schema_fingerprint(schema: pa.Schema) -> str:
    text = "|".join(f"{f.name}:{f.type}" for f in canonical_schema(schema))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_footer(key: str, size: int, tail: bytes) -> tuple[int, bytes] | None:
    """(footer length, footer bytes) from the object's tail, or None if more is needed."""
    if size < 12 or len(tail) < 8:
        raise FragmentError(key, f"too small to be Parquet ({size} bytes)")
    if tail[-4:] != MAGIC:
        raise FragmentError(key, "not Parquet: missing trailing PAR1 magic (truncated or other format)")
    (footer_len,) = struct.unpack("<I", tail[-8:-4])
    if footer_len <= 0 or footer_len + 12 > size:
        raise FragmentError(key, f"corrupt footer length {footer_len} for a {size}-byte object")
    if footer_len + 8 > len(tail):
        return None
    return footer_len, tail[-(footer_len + 8):-8]


def metadata_from_footer(key: str, footer: bytes, footer_len: int) -> pq.FileMetaData:
    # pyarrow parses a footer given any buffer that ends in footer + length + magic; the
    # data pages are never touched, so a synthetic "PAR1 + footer" file is enough.
    try:
        return pq.ParquetFile(pa.BufferReader(MAGIC + footer + struct.pack("<I", footer_len) + MAGIC)).metadata
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad Thrift footer
        raise FragmentError(key, f"corrupt footer: {exc}") from None


async def read_footer(bucket: Any, key: str) -> FooterInfo:
    """Schema and row counts of one fragment from its footer (range reads only)."""
    obj = await bucket.get(key, range={"suffix": FOOTER_PROBE})
    if obj is None:
        raise FragmentError(key, "object missing from R2")
    size = int(obj.size)
    tail = bytes(await obj.bytes())
    parsed = parse_footer(key, size, tail)
    if parsed is None:
        # Footer larger than the probe (very wide schemas): read exactly footer + 8 bytes.
        (footer_len,) = struct.unpack("<I", tail[-8:-4])
        obj = await bucket.get(key, range={"suffix": footer_len + 8})
        if obj is None:
            raise FragmentError(key, "object missing from R2")
        parsed = parse_footer(key, size, bytes(await obj.bytes()))
        if parsed is None:
            raise FragmentError(key, "short range read of the footer")
    footer_len, footer = parsed
    meta = metadata_from_footer(key, footer, footer_len)
    schema = meta.schema.to_arrow_schema()
    if meta.num_rows == 0:
        raise FragmentError(key, "empty: the fragment holds 0 rows")
    return FooterInfo(key, size, meta.num_rows, meta.num_row_groups, schema_fingerprint(schema), schema)


def group_by_schema(infos: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    """Fingerprint → keys, in first-appearance order (inputs are dicts from the step outputs)."""
    groups: dict[str, list[str]] = {}
    for info in infos:
        groups.setdefault(info["fingerprint"], []).append(info["key"])
    return groups


# ------------------------------------------------------------------ de-duplication

class RowDeduplicator:
    """Drops rows already seen in this merge, keeping the first occurrence.

    Each row gets a 128-bit fingerprint computed over the whole record batch at once
    (``row_fingerprint.RowFingerprinter``: per-column hashes straight from the Arrow buffers,
    exact bits, nulls by validity, randomly keyed per merge), and the batch is checked
    against every fingerprint seen so far in one vectorised lookup
    (``row_fingerprint.DigestSet``: sorted runs, 16 bytes per distinct row in memory up to
    ``memory_rows``, then a temporary SQLite file with a bounded page cache), so memory stays
    bounded whatever the number of distinct rows. No Python code runs per row.
    """

    def __init__(self, memory_rows: int | None = None, spill_dir: str | None = None) -> None:
        self.memory_rows = DEDUP_MEMORY_ROWS if memory_rows is None else memory_rows
        self.spill_dir = spill_dir
        self._fingerprinter = RowFingerprinter()
        self._seen = DigestSet(self.memory_rows, spill_dir)
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._seen)

    @property
    def spilled(self) -> bool:
        return self._seen.spilled

    def filter(self, batch: pa.RecordBatch) -> pa.RecordBatch | pa.Table:
        """The rows of ``batch`` not seen before (first occurrences), in order."""
        n = batch.num_rows
        if n == 0:
            return batch
        lane_a, lane_b = self._fingerprinter.fingerprints(batch)
        keep = self._seen.add_new(lane_a, lane_b)
        if len(keep) == n:
            return batch
        self.dropped += n - len(keep)
        # Duplicates usually come in runs (a re-uploaded stretch of battles): then the rows
        # kept are a few contiguous slices, zero-copy, instead of a gather of every value.
        breaks = np.flatnonzero(np.diff(keep) != 1) + 1 if len(keep) else np.zeros(0, np.int64)
        if len(breaks) < MAX_SLICES:
            runs = np.split(keep, breaks) if len(keep) else []
            slices = [batch.slice(int(r[0]), len(r)) for r in runs]
            return pa.Table.from_batches(slices, schema=batch.schema) if slices else batch.slice(0, 0)
        return batch.take(pa.array(keep, pa.int64()))

    def close(self) -> None:
        self._seen.close()


# ------------------------------------------------------------------------- output

class PartSink:
    """The ParquetWriter's sink: encoded bytes cut into ``PART_SIZE`` multipart parts in memory.

    Arrow's writer (on the encode thread) writes into a buffer; every full ``PART_SIZE``
    slice becomes a part that ``pump`` (a task on the event loop) uploads straight to the
    final key while encoding goes on. The output is written once, to R2, never to a local
    spool file first. Memory holds the partial part plus at most ``MAX_QUEUED_PARTS`` parts
    waiting to go up: past that the encode thread waits for the upload (back-pressure). Where
    there are no threads (Pyodide), nothing can upload while the encoder runs, so it never
    waits: parts queue until the event loop gets back control, after the current fragment.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, bounded: bool) -> None:
        self._loop = loop
        self._bounded = bounded
        self._buf = bytearray(PART_SIZE)   # the part being filled, preallocated
        self._fill = 0
        self._parts: collections.deque[bytes] = collections.deque()
        self._cond = threading.Condition()
        self._ready = asyncio.Event()
        self._done = False
        self._written = 0
        self.closed = False
        self.error: BaseException | None = None
        self.stream = pa.PythonFile(self, mode="w")

    # -- the file protocol pa.PythonFile calls (from the encode thread)
    def write(self, data: Any) -> int:
        if self.error is not None:
            raise OSError(f"multipart upload failed: {self.error}")
        with memoryview(data) as src:
            src = src.cast("B") if src.format != "B" or src.ndim != 1 else src
            size = len(src)
            done = 0
            while done < size:
                take = min(size - done, PART_SIZE - self._fill)
                self._buf[self._fill:self._fill + take] = src[done:done + take]
                self._fill += take
                done += take
                if self._fill == PART_SIZE:
                    part = bytes(self._buf)   # the part object handed to the upload
                    self._fill = 0
                    self._queue(part)
        self._written += size
        return size

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def _queue(self, part: bytes) -> None:
        with self._cond:
            self._parts.append(part)
            self._loop.call_soon_threadsafe(self._ready.set)
            while self._bounded and len(self._parts) > MAX_QUEUED_PARTS and self.error is None:
                self._cond.wait()
        if self.error is not None:
            raise OSError(f"multipart upload failed: {self.error}")

    # -- the event loop's side
    def finish(self) -> None:
        """The writer is closed: what is left becomes the last (possibly short) part."""
        with self._cond:
            if self._fill or not self._written:
                self._parts.append(bytes(self._buf[:self._fill]))
                self._fill = 0
            self._done = True
        self._ready.set()

    def fail(self, exc: BaseException) -> None:
        """Stop: a blocked or later ``write`` raises instead of waiting for an upload."""
        with self._cond:
            if self.error is None:
                self.error = exc
            self._parts.clear()
            self._cond.notify_all()

    async def pump(self, upload: MultipartWriter) -> None:
        """Upload parts as they are cut, in order, until ``finish`` and the queue is empty."""
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                while True:
                    with self._cond:
                        part = self._parts[0] if self._parts else None
                    if part is None:
                        break
                    await upload.send([part])
                    with self._cond:
                        if self._parts:
                            self._parts.popleft()
                        self._cond.notify_all()
                with self._cond:
                    if self._done and not self._parts:
                        return
        except BaseException as exc:
            self.fail(exc)
            raise


class MultipartWriter:
    """Uploads equal-sized parts of one object through R2 multipart."""

    def __init__(self, bucket: Any, key: str, custom_metadata: dict[str, str] | None = None) -> None:
        self.bucket = bucket
        self.key = key
        self.custom_metadata = custom_metadata or {}
        self._upload: Any = None
        self._parts: list[Any] = []
        self.size = 0

    async def start(self) -> None:
        kwargs: dict[str, Any] = {"httpMetadata": {"contentType": "application/vnd.apache.parquet"}}
        if self.custom_metadata:
            kwargs["customMetadata"] = self.custom_metadata
        self._upload = await self.bucket.createMultipartUpload(self.key, **kwargs)

    async def send(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            part = await self._upload.uploadPart(len(self._parts) + 1, chunk)
            self._parts.append(part)
            self.size += len(chunk)

    async def complete(self) -> None:
        await self._upload.complete(self._parts)

    async def abort(self) -> None:
        if self._upload is not None:
            try:
                await self._upload.abort()
            except Exception:  # noqa: BLE001 - best-effort cleanup
                pass  # aborting is best-effort cleanup; the original error matters


class FragmentSource:
    """One input fragment opened for reading: small ones in memory, large ones spooled to disk.

    Fragments up to ``IN_MEMORY_MAX`` bytes (the client's typical fragment is a few MB) are
    read in one ``get``; larger ones are streamed from ``obj.body`` into a temporary file, so
    memory never holds more than ``IN_MEMORY_MAX`` of input whatever the fragment size.
    """

    def __init__(self, key: str, spool_dir: str | None) -> None:
        self.key = key
        self.spool_dir = spool_dir
        self.size = 0
        self._tmp: Any = None
        self._file: Any = None
        self.stream: Any = None

    async def open(self, bucket: Any) -> Any:
        obj = await bucket.get(self.key)
        if obj is None:
            raise FragmentError(self.key, "object missing from R2")
        body = getattr(obj, "body", None)
        if int(obj.size) <= IN_MEMORY_MAX or body is None or not hasattr(body, "__aiter__"):
            data = bytes(await obj.bytes())
            self.size = len(data)
            self._file = pa.BufferReader(data)
            self.stream = self._file
            return self._file
        self._tmp = tempfile.NamedTemporaryFile(dir=self.spool_dir, suffix=".parquet")  # noqa: SIM115 - owned by this object until close()
        async for chunk in body:
            self._tmp.write(chunk)
            self.size += len(chunk)
        self._tmp.flush()
        # Read through Arrow's own file (pread into Arrow buffers), not the Python file
        # object: that would copy every column chunk through Python bytes.
        self._file = pa.OSFile(self._tmp.name)
        self.stream = self._file
        return self._file

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._tmp is not None:
            self._tmp.close()


def dictionary_columns(first: pa.Table | None, schema: pa.Schema) -> bool | list[str]:
    """Which columns the output dictionary-encodes, judged on its first row group.

    Parquet writers try a dictionary for every column and fall back to plain pages once the
    dictionary outgrows its page limit: for columns of mostly distinct values (ids, hashes,
    replays) that is pure waste, about a third of the encoding time here. A top-level column
    keeps its dictionary if the first row group's first ``DICTIONARY_SAMPLE_ROWS`` rows repeat
    its values (at most half distinct);
    nested schemas keep the writer's default. The file is valid Parquet either way, only
    page encodings differ.
    """
    if first is None or first.num_rows == 0 or any(pa.types.is_nested(f.type) for f in schema):
        return True
    keep: list[str] = []
    first = first.slice(0, DICTIONARY_SAMPLE_ROWS)
    for name, col in zip(first.column_names, first.columns, strict=True):
        if pa.types.is_dictionary(col.type):
            keep.append(name)
            continue
        try:
            distinct = pc.count_distinct(col, mode="all").as_py()
        except (pa.ArrowNotImplementedError, pa.ArrowTypeError):
            # Arrow has no count_distinct kernel for this column type: nothing to measure,
            # so the column keeps the writer's default (dictionary) encoding.
            keep.append(name)
            continue
        if distinct * 2 <= first.num_rows:
            keep.append(name)
    return keep


class _InlineExecutor:
    """Runs work at once in the calling thread: Cloudflare's Pyodide runtime has no threads."""

    def submit(self, fn: Any, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - delivered through the future, like a pool would
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True) -> None:
        pass


def _executor(name: str) -> Any:
    """A one-thread pool, or inline execution where threads cannot start (Pyodide)."""
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=name)
    try:
        pool.submit(lambda: None).result()
    except RuntimeError:
        pool.shutdown(wait=False)
        return _InlineExecutor()
    return pool


class _MergeWriter:
    """The CPU half of a merge: decode, de-duplicate, gather row groups, encode.

    ``process`` runs on the decode thread; each full row group is handed to the encode
    thread, at most one at a time, so Arrow's encoding and zstd (which release the GIL)
    overlap with hashing the next rows, and memory holds at most two row groups.
    """

    def __init__(self, sink: PartSink, result: MergeResult, encode_pool: Any, spill_dir: str | None) -> None:
        self.sink = sink
        self.result = result
        self.encode_pool = encode_pool
        self.dedupe = RowDeduplicator(spill_dir=spill_dir)
        self.writer: pq.ParquetWriter | None = None
        self.schema: pa.Schema | None = None
        self.pending: list[pa.RecordBatch] = []
        self.pending_rows = 0
        self.pending_bytes = 0
        self._encoding: concurrent.futures.Future[Any] | None = None

    def process(self, key: str, stream: Any) -> None:
        try:
            pf = pq.ParquetFile(stream)
            file_schema = canonical_schema(pf.schema_arrow)
            if self.schema is None:
                self.schema = file_schema   # the writer opens with the first row group
            elif not file_schema.equals(self.schema):
                raise FragmentError(key, "schema differs from its group")
            # use_threads=False: Arrow's per-thread allocator heaps would cost more memory
            # than a parallel decode of small row groups saves time.
            for batch in pf.iter_batches(batch_size=READ_BATCH_ROWS, use_threads=False):
                self.result.rows_in += batch.num_rows
                if batch.schema != self.schema:
                    batch = pa.RecordBatch.from_arrays(batch.columns, schema=self.schema)
                kept = self.dedupe.filter(batch)
                if kept.num_rows:
                    self.pending.extend(kept.to_batches() if isinstance(kept, pa.Table) else [kept])
                    self.pending_rows += kept.num_rows
                    self.pending_bytes += kept.nbytes
                if self.pending_rows >= ROW_GROUP_ROWS or self.pending_bytes >= ROW_GROUP_BYTES:
                    self._flush()
        except FragmentError:
            raise
        except Exception as exc:  # corrupt pages behind a valid footer
            if self.sink.error is not None:
                raise  # the upload failed, not this fragment: never quarantine it for that
            raise FragmentError(key, f"unreadable: {exc}") from None

    def _open_writer(self, first: pa.Table | None) -> pq.ParquetWriter:
        assert self.schema is not None
        self.writer = pq.ParquetWriter(self.sink.stream, self.schema, compression="zstd",
                                       use_dictionary=dictionary_columns(first, self.schema))
        return self.writer

    def _flush(self) -> None:
        if not self.pending or self.schema is None:
            return
        table = pa.Table.from_batches(self.pending, schema=self.schema)
        self.pending, self.pending_rows, self.pending_bytes = [], 0, 0
        if self.writer is None:
            self._open_writer(table)
        assert self.writer is not None
        self.wait_encoded()
        self._encoding = self.encode_pool.submit(self.writer.write_table, table, row_group_size=table.num_rows)
        self.result.row_groups_out += 1

    def wait_encoded(self) -> None:
        if self._encoding is not None:
            encoding, self._encoding = self._encoding, None
            encoding.result()

    def finish(self) -> bool:
        """Write what is left and the footer; False if no input was readable."""
        self._flush()
        self.wait_encoded()
        if self.schema is None:
            return False
        if self.writer is None:   # readable inputs, but every row was a duplicate of nothing: 0 rows
            self._open_writer(None)
        assert self.writer is not None
        self.writer.close()
        return True

    def abandon(self) -> None:
        try:
            self.wait_encoded()
        except Exception:  # noqa: BLE001 - best-effort cleanup
            pass  # the original error is the one that matters
        if self.writer is not None and self.writer.is_open:
            try:
                self.writer.close()
            except Exception:  # noqa: BLE001 - closing after a failure is best effort; the original error is raised
                pass


async def stream_merge(
    bucket: Any,
    inputs: list[str],
    final_key: str,
    *,
    skip: set[str] | None = None,
    custom_metadata: dict[str, str] | None = None,
    spool_dir: str | None = None,
) -> MergeResult:
    """Merge ``inputs`` (same canonical schema) into ``final_key``, dropping duplicate rows.

    The output goes straight into an R2 multipart upload *to the final key*: an uncompleted
    multipart upload is invisible to ``get``/``head``/``list``, and ``complete()`` publishes
    the whole object at once, replacing any previous one atomically. That is exactly what the
    spec's "write to a temporary key, then move it" is for (``final_key`` only ever holds a
    complete file), without writing the output twice more (R2 has no rename, so the move was
    a full copy). A failed merge aborts the upload; one cut short by a crash is never
    completed (R2 discards it with the bucket's incomplete-upload lifecycle rule, 7 days by
    default) and the retried step starts a new one. ``final_key`` may also be an input (the
    group's previous output): every input is read before the upload completes.

    A fragment that turns out unreadable mid-way raises
    ``FragmentError`` after aborting the upload: the caller quarantines it and retries
    without it, because rows it already contributed cannot be taken back out of the stream.

    The event loop only does I/O (R2 reads, part uploads, the next fragment's prefetch);
    decoding, hashing and encoding run on two worker threads (inline where threads are
    unavailable), so a long merge never stalls the loop.
    """
    skip = skip or set()
    todo = [k for k in inputs if k not in skip]
    result = MergeResult(key=final_key)
    loop = asyncio.get_running_loop()
    upload = MultipartWriter(bucket, final_key, custom_metadata)
    decode_pool, encode_pool = _executor("merge-decode"), _executor("merge-encode")
    sink = PartSink(loop, bounded=not isinstance(encode_pool, _InlineExecutor))
    merge = _MergeWriter(sink, result, encode_pool, spool_dir)

    async def fetch(key: str) -> FragmentSource:
        source = FragmentSource(key, spool_dir)
        try:
            await source.open(bucket)
        except BaseException:
            source.close()
            raise
        return source

    prefetch: asyncio.Future[FragmentSource] | None = None
    pump: asyncio.Future[None] | None = None
    await upload.start()
    try:
        # Parts go up while later fragments decode: the upload never waits for the CPU
        # work, and the CPU work waits for the upload only past MAX_QUEUED_PARTS.
        pump = asyncio.ensure_future(sink.pump(upload))
        for i, key in enumerate(todo):
            source = await prefetch if prefetch is not None else await fetch(key)
            prefetch = asyncio.ensure_future(fetch(todo[i + 1])) if i + 1 < len(todo) else None
            try:
                await asyncio.wrap_future(decode_pool.submit(merge.process, key, source.stream), loop=loop)
            finally:
                source.close()
            result.bytes_in += source.size
            result.merged.append(key)
        if not await asyncio.wrap_future(decode_pool.submit(merge.finish), loop=loop):
            raise FragmentError(inputs[0] if inputs else final_key, "no readable input in the group")
        sink.finish()
        await pump
        await upload.complete()
    except BaseException as exc:
        sink.fail(exc)  # a writer waiting for the upload must not wait forever
        if pump is not None:
            pump.cancel()
            try:
                await pump
            except BaseException:  # noqa: BLE001 - the task was cancelled after a failure; the original error is raised
                pass
        if prefetch is not None:
            prefetch.cancel()
            try:
                (await prefetch).close()
            except BaseException:  # noqa: BLE001 - the task was cancelled after a failure; the original error is raised
                pass
        await asyncio.wrap_future(decode_pool.submit(merge.abandon), loop=loop)
        await upload.abort()
        raise
    finally:
        decode_pool.shutdown(wait=True)
        encode_pool.shutdown(wait=True)
        merge.dedupe.close()
    result.rows_out = result.rows_in - merge.dedupe.dropped
    result.duplicates_dropped = merge.dedupe.dropped
    result.bytes_out = upload.size
    return result


def step_delay_ms(env: Any) -> int:
    """Dev/test knob ``COMPACTION_STEP_DELAY_MS`` (a var): pause inside each step, so a test
    can kill the process while a known step is in flight. Unset in the shipped config."""
    raw = getattr(env, "COMPACTION_STEP_DELAY_MS", None) if env is not None else None
    try:
        return max(0, int(raw)) if raw not in (None, "") else 0
    except (TypeError, ValueError):
        return 0
