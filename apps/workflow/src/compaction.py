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

Memory bound of a merge (documented in README "Demo apps"): one input row group (decoded),
one output row group being assembled (``ROW_GROUP_ROWS`` rows at most), one multipart part
(``PART_SIZE``), plus the de-duplication set: one 128-bit row digest per *distinct* row,
about 70 bytes each in memory up to ``DEDUP_MEMORY_ROWS``, then spilled to SQLite on disk.
Inputs are read one fragment at a time: in memory up to ``IN_MEMORY_MAX``, spooled to a
temporary file above it, so input size only costs disk.
(On Cloudflare's Pyodide runtime ``tempfile`` is an in-memory filesystem: there the spool
costs memory, and a production deployment would size fragments and groups to the 128 MB
isolate limit or stream ranged reads instead; the code path is the same.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hashlib
import itertools
import operator
import os
import sqlite3
import struct
import tempfile
from dataclasses import dataclass, field
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

MAGIC = b"PAR1"
# R2 multipart: every part but the last must be >= 5 MiB and all non-last parts must have
# the same size (R2 answers BadUpload otherwise), so parts are cut at exactly PART_SIZE.
PART_SIZE = 8 * 1024 * 1024
# One suffix read of this size usually holds the whole footer: one R2 call per fragment.
FOOTER_PROBE = 64 * 1024
ROW_GROUP_ROWS = 128 * 1024
# Distinct rows whose digests stay in memory (~70 bytes each); more spill to SQLite on disk.
DEDUP_MEMORY_ROWS = 1_200_000
ROW_GROUP_BYTES = 16 * 1024 * 1024
READ_BATCH_ROWS = 8 * 1024
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
    except Exception as exc:  # pyarrow raises several types for a bad Thrift footer
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

_ONE = pa.scalar(b"\x01", pa.binary())
_ZERO = pa.scalar(b"\x00", pa.binary())
_EMPTY = pa.scalar(b"", pa.binary())


def _fixed_view(col: pa.Array, width: int) -> pa.Array:
    """The raw little-endian bytes of each fixed-width value, without formatting them.

    The validity bitmap comes along: the bytes under a null slot are unspecified, so they
    must become null (and then nothing) rather than take part in the key.
    """
    validity = col.buffers()[0] if col.null_count else None
    view = pa.Array.from_buffers(pa.binary(width), len(col), [validity, col.buffers()[1]], offset=col.offset)
    return view.cast(pa.binary())


def _pieces(col: pa.Array) -> list[Any]:
    """Byte pieces whose concatenation encodes each value of ``col`` without ambiguity.

    The encoding is prefix-free: a validity byte (0 = null, nothing follows), then for
    variable-length values a 4-byte length and the bytes, for fixed-width values their raw
    bits (so -0.0 and 0.0, or two NaN payloads, count as different values: exact bits).
    """
    t = col.type
    if pa.types.is_dictionary(t):
        return _pieces(pc.cast(col, t.value_type))
    if col.null_count == 0:
        marker: Any = _ONE
    else:
        marker = pc.if_else(col.is_valid(), _ONE, _ZERO)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        data = col if pa.types.is_binary(t) else pc.cast(col, pa.binary())
        return [marker, _fixed_view(pc.cast(pc.binary_length(data), pa.int32()), 4), data]
    if pa.types.is_fixed_size_binary(t):
        return [marker, col.cast(pa.binary())]
    if pa.types.is_boolean(t):
        col = pc.cast(col, pa.int8())
        t = col.type
    if pa.types.is_struct(t):
        pieces: list[Any] = [marker]
        for i in range(t.num_fields):
            pieces.extend(_pieces(col.field(i)))
        return pieces
    try:
        width = t.bit_width // 8
    except ValueError:
        width = 0
    if width > 0 and len(col.buffers()) == 2:
        # Integers, floats, temporals, decimals: their bits, copied but never formatted.
        return [marker, _fixed_view(col, width)]
    # Lists, maps and other nested values: an exact but slow Python repr.
    text = pa.array([None if v is None else repr(v).encode() for v in col.to_pylist()], pa.binary())
    return [marker, _fixed_view(pc.cast(pc.binary_length(text), pa.int32()), 4), text]


def row_keys(batch: pa.RecordBatch) -> pa.Array:
    """One binary key per row; equal keys ⇔ equal rows (column by column, null-aware)."""
    pieces: list[Any] = []
    for col in batch.columns:
        pieces.extend(_pieces(col))
    if not pieces:
        return pa.array([b""] * batch.num_rows, pa.binary())
    # Null slots contribute nothing: their validity byte already says "null".
    return pc.binary_join_element_wise(*pieces, _EMPTY, null_handling="replace", null_replacement="")


class RowDeduplicator:
    """Drops rows already seen in this merge, keeping the first occurrence.

    Each row's key is reduced to 128 bits: two SipHash values (Python's keyed, per-process
    randomised ``hash`` of bytes; the second over the key with a one-byte prefix), packed
    in one int. SipHash is a PRF, so a false "duplicate" among n distinct rows has
    probability about n²/2^129. SipHash runs several times faster than hashlib here, and
    every per-row loop is a C-level ``map``.

    Digests live in a set (about 70 bytes each) up to ``memory_rows`` distinct rows; beyond
    that they move to a temporary SQLite file with a bounded page cache, so memory stays
    bounded whatever the number of distinct rows (lookups then cost a few µs more per row).
    """

    def __init__(self, memory_rows: int | None = None, spill_dir: str | None = None) -> None:
        self._seen: set[int] = set()
        self._spilled: _SpilledDigests | None = None
        self.memory_rows = DEDUP_MEMORY_ROWS if memory_rows is None else memory_rows
        self.spill_dir = spill_dir
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._seen) + (len(self._spilled) if self._spilled is not None else 0)

    @property
    def spilled(self) -> bool:
        return self._spilled is not None

    def filter(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        # Every per-row loop below is a C-level map/zip/filter: no Python bytecode runs per
        # row, which is what keeps de-duplication cheap next to decoding and encoding.
        keys = row_keys(batch).to_pylist()
        n = len(keys)
        digests = list(map(operator.xor, map(operator.lshift, map(hash, keys), itertools.repeat(64)),
                           map(hash, map(_SALT.__add__, keys))))
        del keys
        # digest → index of its first occurrence in this batch (iterating backwards, the
        # earliest index is written last).
        first = dict(zip(reversed(digests), range(n - 1, -1, -1)))
        if self._spilled is not None:
            keep = self._spilled.add_new(first)
        else:
            seen = self._seen
            if len(first) == n and seen.isdisjoint(first):
                seen.update(first)
                self._maybe_spill()
                return batch
            keep = sorted(map(first.__getitem__, itertools.filterfalse(seen.__contains__, first)))
            seen.update(first)
            self._maybe_spill()
        if len(keep) == n:
            return batch
        self.dropped += n - len(keep)
        return batch.take(pa.array(keep, pa.int64()))

    def _maybe_spill(self) -> None:
        if len(self._seen) > self.memory_rows:
            self._spilled = _SpilledDigests(self.spill_dir)
            self._spilled.load(self._seen)
            self._seen = set()

    def close(self) -> None:
        if self._spilled is not None:
            self._spilled.close()


_DIGEST_BYTES = functools.partial(int.to_bytes, length=16, byteorder="big", signed=True)


class _SpilledDigests:
    """The digest set in a temporary SQLite file (bounded page cache)."""

    def __init__(self, spill_dir: str | None) -> None:
        self._tmp = tempfile.NamedTemporaryFile(dir=spill_dir, suffix=".sqlite")
        # Used from the merge's decode thread, closed from the event loop's thread.
        self._db = sqlite3.connect(self._tmp.name, check_same_thread=False)
        for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -16384", "temp_store = MEMORY"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute("CREATE TABLE seen (d BLOB PRIMARY KEY) WITHOUT ROWID")
        self._db.execute("CREATE TEMP TABLE batch (d BLOB PRIMARY KEY, i INTEGER) WITHOUT ROWID")
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def load(self, digests: set[int]) -> None:
        self._db.executemany("INSERT OR IGNORE INTO seen (d) VALUES (?)", zip(map(_DIGEST_BYTES, digests)))
        self._count += len(digests)

    def add_new(self, first: dict[int, int]) -> list[int]:
        """Row indexes (sorted) of digests not seen before; records them as seen."""
        db = self._db
        db.execute("DELETE FROM batch")
        db.executemany("INSERT INTO batch (d, i) VALUES (?, ?)", zip(map(_DIGEST_BYTES, first), first.values()))
        keep = sorted(i for (i,) in db.execute(
            "SELECT i FROM batch WHERE NOT EXISTS (SELECT 1 FROM seen WHERE seen.d = batch.d)"))
        db.execute("INSERT OR IGNORE INTO seen (d) SELECT d FROM batch")
        self._count += len(keep)
        return keep

    def close(self) -> None:
        self._db.close()
        self._tmp.close()


_SALT = b"\x00"


# ------------------------------------------------------------------------- output

class SpooledOutput:
    """The ParquetWriter's sink: an Arrow file on local disk, read back one part at a time.

    Arrow writes encoded pages straight to the file (no Python copies); after each row
    group the complete ``PART_SIZE`` slices are read back with ``pread`` and uploaded, so
    memory holds one part, whatever the output size.
    """

    def __init__(self, spool_dir: str | None = None) -> None:
        self.spool_dir = spool_dir
        self._tmp = tempfile.NamedTemporaryFile(dir=spool_dir, suffix=".parquet")
        self.stream = pa.OSFile(self._tmp.name, "wb")
        self._sent = 0

    async def upload_ready(self, upload: "MultipartWriter", final: bool = False) -> None:
        fd = self._tmp.fileno()
        size = os.fstat(fd).st_size
        while size - self._sent >= PART_SIZE:
            await upload.send([os.pread(fd, PART_SIZE, self._sent)])
            self._sent += PART_SIZE
        if final and size > self._sent:
            await upload.send([os.pread(fd, size - self._sent, self._sent)])
            self._sent = size

    def close(self) -> None:
        if not self.stream.closed:
            self.stream.close()
        self._tmp.close()


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
            except Exception:
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
        self._tmp = tempfile.NamedTemporaryFile(dir=self.spool_dir, suffix=".parquet")
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


async def copy_object(bucket: Any, src: str, dst: str, custom_metadata: dict[str, str] | None = None) -> int:
    """Copy through multipart, one ranged read per part (R2 has no rename or server-side copy
    in the binding); memory holds one part."""
    head = await bucket.head(src)
    if head is None:
        raise FileNotFoundError(src)
    size = int(head.size)
    writer = MultipartWriter(bucket, dst, custom_metadata)
    await writer.start()
    try:
        for offset in range(0, max(size, 1), PART_SIZE):
            length = min(PART_SIZE, size - offset)
            if length <= 0:
                break
            obj = await bucket.get(src, range={"offset": offset, "length": length})
            if obj is None:
                raise FileNotFoundError(src)
            await writer.send([bytes(await obj.bytes())])
        await writer.complete()
    except BaseException:
        await writer.abort()
        raise
    return writer.size


async def move_object(bucket: Any, src: str, dst: str, custom_metadata: dict[str, str] | None = None) -> int:
    size = await copy_object(bucket, src, dst, custom_metadata)
    await bucket.delete(src)
    return size


class _InlineExecutor:
    """Runs work at once in the calling thread: Cloudflare's Pyodide runtime has no threads."""

    def submit(self, fn: Any, *args: Any, **kwargs: Any) -> "concurrent.futures.Future[Any]":
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # delivered through the future, like a pool would
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

    def __init__(self, sink: "SpooledOutput", result: MergeResult, encode_pool: Any) -> None:
        self.sink = sink
        self.result = result
        self.encode_pool = encode_pool
        self.dedupe = RowDeduplicator(spill_dir=sink.spool_dir)
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
                self.schema = file_schema
                self.writer = pq.ParquetWriter(self.sink.stream, file_schema, compression="zstd")
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
                    self.pending.append(kept)
                    self.pending_rows += kept.num_rows
                    self.pending_bytes += kept.nbytes
                if self.pending_rows >= ROW_GROUP_ROWS or self.pending_bytes >= ROW_GROUP_BYTES:
                    self._flush()
        except FragmentError:
            raise
        except Exception as exc:  # corrupt pages behind a valid footer
            raise FragmentError(key, f"unreadable: {exc}") from None

    def _flush(self) -> None:
        if not self.pending or self.writer is None:
            return
        table = pa.Table.from_batches(self.pending, schema=self.schema)
        self.pending, self.pending_rows, self.pending_bytes = [], 0, 0
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
        if self.writer is None:
            return False
        self.writer.close()
        self.sink.stream.close()
        return True

    def abandon(self) -> None:
        try:
            self.wait_encoded()
        except Exception:
            pass  # the original error is the one that matters
        if self.writer is not None and self.writer.is_open:
            try:
                self.writer.close()
            except Exception:
                pass


async def stream_merge(
    bucket: Any,
    inputs: list[str],
    tmp_key: str,
    final_key: str,
    skip: set[str] | None = None,
    custom_metadata: dict[str, str] | None = None,
    spool_dir: str | None = None,
) -> MergeResult:
    """Merge ``inputs`` (same canonical schema) into ``final_key``, dropping duplicate rows.

    Writes to ``tmp_key`` first and moves the finished object, so ``final_key`` only ever
    holds a complete file. A fragment that turns out unreadable mid-way raises
    ``FragmentError`` after aborting the upload: the caller quarantines it and retries
    without it, because rows it already contributed cannot be taken back out of the stream.

    The event loop only does I/O (R2 reads, part uploads, the next fragment's prefetch);
    decoding, hashing and encoding run on two worker threads (inline where threads are
    unavailable), so a long merge never stalls the loop.
    """
    skip = skip or set()
    todo = [k for k in inputs if k not in skip]
    result = MergeResult(key=final_key)
    sink = SpooledOutput(spool_dir)
    upload = MultipartWriter(bucket, tmp_key, custom_metadata)
    decode_pool, encode_pool = _executor("merge-decode"), _executor("merge-encode")
    merge = _MergeWriter(sink, result, encode_pool)
    loop = asyncio.get_running_loop()

    async def fetch(key: str) -> FragmentSource:
        source = FragmentSource(key, spool_dir)
        try:
            await source.open(bucket)
        except BaseException:
            source.close()
            raise
        return source

    prefetch: asyncio.Future[FragmentSource] | None = None
    await upload.start()
    try:
        for i, key in enumerate(todo):
            source = await prefetch if prefetch is not None else await fetch(key)
            prefetch = asyncio.ensure_future(fetch(todo[i + 1])) if i + 1 < len(todo) else None
            try:
                await asyncio.wrap_future(decode_pool.submit(merge.process, key, source.stream), loop=loop)
            finally:
                source.close()
            result.bytes_in += source.size
            result.merged.append(key)
            await sink.upload_ready(upload)
        if not await asyncio.wrap_future(decode_pool.submit(merge.finish), loop=loop):
            raise FragmentError(inputs[0] if inputs else final_key, "no readable input in the group")
        await sink.upload_ready(upload, final=True)
        await upload.complete()
    except BaseException:
        if prefetch is not None:
            prefetch.cancel()
            try:
                (await prefetch).close()
            except BaseException:
                pass
        await asyncio.wrap_future(decode_pool.submit(merge.abandon), loop=loop)
        await upload.abort()
        raise
    finally:
        decode_pool.shutdown(wait=True)
        encode_pool.shutdown(wait=True)
        merge.dedupe.close()
        sink.close()
    result.rows_out = result.rows_in - merge.dedupe.dropped
    result.duplicates_dropped = merge.dedupe.dropped
    result.bytes_out = await move_object(bucket, tmp_key, final_key, custom_metadata)
    return result


def step_delay_ms(env: Any) -> int:
    """Dev/test knob ``COMPACTION_STEP_DELAY_MS`` (a var): pause inside each step, so a test
    can kill the process while a known step is in flight. Unset in the shipped config."""
    raw = getattr(env, "COMPACTION_STEP_DELAY_MS", None) if env is not None else None
    try:
        return max(0, int(raw)) if raw not in (None, "") else 0
    except (TypeError, ValueError):
        return 0
