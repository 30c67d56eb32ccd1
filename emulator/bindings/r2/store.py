"""The R2 engine: one on-disk index per bucket, read on demand, under moto's S3 models.

Each bucket is a directory of the state directory::

    <state>/r2/<safe bucket>/index.sqlite3    objects, uploads, parts, blob names (WAL);
                                              bucket settings (its CORS rules) in ``info``
    <state>/r2/<safe bucket>/blobs/<id>       object bytes above ``INLINE_MAX``
    <state>/r2/<safe bucket>/staging/<id>     uploads in progress (removed at start)

**The index is the key store.** Every lookup (``head``, ``open``), listing (``walk``,
``list``) and page is a query on ``index.sqlite3``: a point read on the ``objects`` primary
key, or a range scan of it in key order (``key >= lo AND key < hi ... LIMIT n``, see
``walk``). Nothing is loaded at start — opening a bucket opens its SQLite file — so memory
and start-up time do not depend on how many objects are stored (docs/r2.md, "Storage and
memory", has the figures). What is held in memory: per bucket one SQLite connection (its
page cache is SQLite's bounded ``cache_size``) and moto's ``FakeBucket``; per store a
bounded cache of recently written or read objects (``HotObjects``: metadata plus inline
bytes, ``HOT_BYTES``/``HOT_ENTRIES``), which keeps a get of a just-written object as cheap
as a dictionary hit (bench/storage.py). Reads that miss it go to the index.

**Durability.** Keys may hold ``../`` or anything else, so they never become paths: blob
files are named by random ids and the key lives only in the index. A put is atomic: the
bytes are written to a staging file, renamed into ``blobs/`` and then the index row is
committed in one SQLite transaction; a ``kill -9`` at any point leaves either the old or the
new object. SQLite runs with ``synchronous=NORMAL`` in WAL mode: committed rows survive a
killed process (not a power cut without fsync — the same trade-off as Miniflare's
SQLite-backed store). A blob renamed into ``blobs/`` whose commit never happened, or an old
blob whose unlink after the commit never happened, is an orphan: the ``blobs`` table names
every referenced blob file, so the sweep at start looks each file up instead of reading
every object row. It runs only when the bucket was not closed cleanly (or its ``blobs/``
directory changed since), so a normal restart costs one ``stat``.

Small objects (``INLINE_MAX``) are stored inline in their index row; big ones are read with
``os.pread`` on their blob files (a 500 MB Parquet file is never held in memory) and a
multipart object keeps its parts' files as its segments (no concatenation copy). A blob file
removed behind the emulator's back makes its object unreadable: it is reported once through
``on_damaged`` and treated as absent, not fatal.

**moto.** This is the only module that imports moto. Each bucket is a moto ``FakeBucket``
in an ``S3Backend`` whose key store (``FakeBucket.keys``) is ``IndexedKeys``, a read-only
view of the index: moto's own lookups (``get_object``, ``head_object``) build a ``FakeKey``
from the index row when asked, with the bytes read from disk. The binding and the S3
endpoint read ``StoredObject`` rows directly — building a ``FakeKey`` costs a spooled
buffer, a lock and moto's bookkeeping per call, for nothing they use — and R2's S3
semantics (conditionals, ranges, listing, multipart rules) live in ``binding.py`` and
``s3.py``. Writes never go through moto's write API: they must be durable first. The moto
internals still used (pinned in pyproject.toml for them) are listed at ``_MOTO_INTERNALS``.

All methods are synchronous and thread-safe (one lock per store): the binding calls the
cheap ones on the event loop and hands big writes to a thread.
"""

from __future__ import annotations

import builtins
import collections
import hashlib
import io
import json
import os
import secrets
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple
from collections.abc import Callable, Iterable, Iterator

from moto.core.model_instances import model_data
from moto.s3.models import FakeBucket, FakeKey, S3Backend
from moto.s3.utils import _VersionedKeyStore

from emulator.bindings.r2.errors import R2Error
from emulator.sqlite import Transaction, WalCheckpointer, bind_bytes_directly
from emulator.state import safe_component

# Objects up to this size live inline in their index row.
INLINE_MAX = 256 * 1024
# R2's multipart minimum part size (all parts but the last).
MIN_PART_SIZE = 5 * 1024 * 1024
_ACCOUNT = "000000000000"
_REGION = "us-east-1"
CHECKPOINT_EVERY = 500  # index commits between background WAL checkpoints
_EPOCH = datetime(1970, 1, 1)  # naive UTC, what moto keeps in ``last_modified``
# The hot-object cache: at most this many objects and this many bytes (inline bytes plus
# ``_ENTRY_COST`` each), whatever the number of objects stored.
HOT_ENTRIES = 4096
HOT_BYTES = 16 * 1024 * 1024
_ENTRY_COST = 512
# Index rows fetched per query when walking a key range (a listing page asks for its
# limit + 1); after skipping a common prefix the next query starts at _SKIP_CHUNK rows and
# doubles while no prefix is skipped, so a page of many big common prefixes reads few rows.
WALK_CHUNK = 1000
_SKIP_CHUNK = 16
# Version of the index layout: 2 moved inline bytes to ``bodies`` and added the ``blobs``
# table (both filled from the old rows the first time an older index is opened).
SCHEMA_VERSION = "2"

# The moto internals this module relies on, and why (no public seam exists for them):
_MOTO_INTERNALS = (
    # moto.s3.utils._VersionedKeyStore: FakeBucket.keys must be one (moto's models call its
    # getlist/setlist); IndexedKeys subclasses it to answer from the index.
    "_VersionedKeyStore",
    # FakeKey._value_buffer: the only way to give a FakeKey a value without copying it into
    # moto's spooled buffer; blob-backed keys read through _BlobFile instead (a 500 MB
    # object must not be copied). Inline values use the public constructor argument.
    "FakeKey._value_buffer",
    # FakeKey.disposed: set on keys built for a lookup, which nobody disposes of, so that
    # moto's FakeKey.__del__ does not warn about them.
    "FakeKey.disposed",
    # model_data[...].instances_tracked: moto appends every model it creates to a class
    # list (for its dashboard and reset); see _Untracked.
    "model_data instances_tracked",
)


class _Untracked(list[Any]):
    """A model-instance list that keeps nothing.

    moto's ``BaseModel.__new__`` appends every model it creates (each ``FakeKey``, and the
    ACL grant objects made with it) to a class-wide list for its dashboard and ``reset``,
    which we use neither: in a long-running emulator that list only grows, one dead key
    per lookup through moto, and makes every garbage collection walk them all.
    """

    def append(self, item: Any) -> None:
        pass


for _model in model_data["s3"].values():
    _model.instances_tracked = _Untracked()  # type: ignore[attr-defined]  # see _MOTO_INTERNALS

_SCHEMA = """
CREATE TABLE IF NOT EXISTS info (name TEXT PRIMARY KEY, value TEXT NOT NULL);
-- One row per object, clustered by key: a point lookup is one search of this b-tree and a
-- listing page a scan of consecutive leaves holding only metadata (~20 rows per page).
CREATE TABLE IF NOT EXISTS objects (
    key TEXT PRIMARY KEY, version TEXT NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
    uploaded INTEGER NOT NULL, http_metadata TEXT NOT NULL, custom_metadata TEXT NOT NULL,
    checksums TEXT NOT NULL,
    segments TEXT,   -- JSON list of blob file names (objects above INLINE_MAX), or NULL
    body INTEGER     -- bodies.id of the inline bytes, or NULL
) WITHOUT ROWID;
-- Inline bytes, kept out of the objects b-tree so that listings never read them.
CREATE TABLE IF NOT EXISTS bodies (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
-- A body belongs to exactly one object row: replacing or deleting the row drops it, in the
-- same transaction.
CREATE TRIGGER IF NOT EXISTS objects_body_replaced AFTER UPDATE OF body ON objects
    WHEN OLD.body IS NOT NULL AND OLD.body IS NOT NEW.body
    BEGIN DELETE FROM bodies WHERE id = OLD.body; END;
CREATE TRIGGER IF NOT EXISTS objects_body_deleted AFTER DELETE ON objects
    WHEN OLD.body IS NOT NULL
    BEGIN DELETE FROM bodies WHERE id = OLD.body; END;
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY, key TEXT NOT NULL, state TEXT NOT NULL,
    http_metadata TEXT NOT NULL, custom_metadata TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_by_state ON uploads (state, key);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, etag TEXT NOT NULL,
    size INTEGER NOT NULL, md5 TEXT NOT NULL, blob TEXT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
-- Every blob file an object or a part refers to (the start-up sweep looks files up here).
CREATE TABLE IF NOT EXISTS blobs (name TEXT PRIMARY KEY) WITHOUT ROWID;
"""
# Layout 1 kept the inline bytes in the objects row (a rowid table); its rows move to the
# layout above the first time such an index is opened (_Bucket._migrate).
_COPY_FROM_LAYOUT_1 = (
    "INSERT INTO bodies (id, data) SELECT rowid, data FROM objects_layout_1 WHERE data IS NOT NULL",
    "INSERT INTO objects SELECT key, version, size, etag, uploaded, http_metadata, custom_metadata,"
    " checksums, segments, CASE WHEN data IS NULL THEN NULL ELSE rowid END FROM objects_layout_1",
    "DROP TABLE objects_layout_1",
)
# The metadata columns of an object row, in StoredObject's order; then its segments (and,
# for reads of the bytes, the inline body).
_META = "key, version, size, etag, uploaded, http_metadata, custom_metadata, checksums"
_HEAD_SQL = f"SELECT {_META}, segments FROM objects WHERE key = ?"  # noqa: S608 - _META is a constant column list
_OPEN_SQL = (f"SELECT {_META}, segments, bodies.data FROM objects LEFT JOIN bodies"  # noqa: S608 - _META is a constant column list
             " ON bodies.id = objects.body WHERE key = ?")
_UPSERT_SQL = (
    "INSERT INTO objects VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (key) DO UPDATE SET"
    " version = excluded.version, size = excluded.size, etag = excluded.etag,"
    " uploaded = excluded.uploaded, http_metadata = excluded.http_metadata,"
    " custom_metadata = excluded.custom_metadata, checksums = excluded.checksums,"
    " segments = excluded.segments, body = excluded.body")
# walk(): (lower bound inclusive?, upper bound?) → the range query, a range search of the
# objects b-tree in key order (tests/bindings/r2/test_store.py checks the plans).
_RANGE_SQL = {
    (inclusive, bounded): f"SELECT {_META}, segments FROM objects WHERE key {'>=' if inclusive else '>'} ?"  # noqa: S608 - _META is a constant column list
                          f"{' AND key < ?' if bounded else ''} ORDER BY key LIMIT ?"
    for inclusive in (False, True) for bounded in (False, True)
}


class StoredObject(NamedTuple):
    """An object's metadata as persisted (times in epoch milliseconds, hashes as hex).

    Immutable (a listing page builds 1,000 of them: a tuple is built in half the time of a
    frozen dataclass); the dicts are shared, never changed.
    """

    key: str
    version: str
    size: int
    etag: str
    uploaded: int
    http_metadata: dict[str, Any] = {}  # noqa: RUF012 - a NamedTuple field: its default is shared and never changed (see above)
    custom_metadata: dict[str, str] = {}  # noqa: RUF012 - a NamedTuple field: its default is shared and never changed (see above)
    checksums: dict[str, str] = {}  # noqa: RUF012 - a NamedTuple field: its default is shared and never changed (see above)

    @property
    def uploaded_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.uploaded / 1000, tz=UTC)


@dataclass(frozen=True)
class UploadRecord:
    upload_id: str
    key: str
    state: str  # "in-progress" | "completed" | "aborted"
    http_metadata: dict[str, Any]
    custom_metadata: dict[str, str]


@dataclass(frozen=True)
class PartRecord:
    part_number: int
    etag: str
    size: int
    md5: str


class Staged:
    """Bytes received for a put or a part, hashed as they arrived, not yet visible.

    Small values stay in memory; bigger ones spill into ``staging/`` on the same file
    system as ``blobs/`` so committing is a rename, not a copy.
    """

    def __init__(self, staging_dir: Path, algorithms: Iterable[str] = ()) -> None:
        self._dir = staging_dir
        self._hashes = {"md5": hashlib.md5(usedforsecurity=False)}  # the etag; md5() skips new()'s name lookup
        for alg in algorithms:
            if alg not in self._hashes:
                self._hashes[alg] = hashlib.new(alg)
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._file: BinaryIO | None = None
        self.path: Path | None = None
        self.size = 0
        self._done = False

    def write(self, chunk: bytes | bytearray | memoryview) -> None:
        view = memoryview(chunk).cast("B")
        if not len(view):
            return
        for h in self._hashes.values():
            h.update(view)
        self.size += len(view)
        if self._file is None and self._buffered + len(view) <= INLINE_MAX:
            # bytes are immutable, so the caller's object is kept as is (no copy); anything
            # mutable is copied, as the app may change it after put() returns.
            self._buffer.append(chunk if type(chunk) is bytes else bytes(view))
            self._buffered += len(view)
            return
        if self._file is None:
            self._dir.mkdir(parents=True, exist_ok=True)
            self.path = self._dir / uuid.uuid4().hex
            self._file = open(self.path, "wb")  # noqa: SIM115 - owned by this object until close()
            for part in self._buffer:
                self._file.write(part)
            self._buffer = []
        self._file.write(view)

    def finish(self) -> Staged:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._done = True
        return self

    @property
    def inline(self) -> bytes | None:
        """The whole value when it stayed in memory."""
        if self.path is not None:
            return None
        return self._buffer[0] if len(self._buffer) == 1 else b"".join(self._buffer)

    def hexdigest(self, alg: str) -> str:
        return self._hashes[alg].hexdigest()

    def digest(self, alg: str) -> bytes:
        return self._hashes[alg].digest()

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None
        self._buffer = []


class _BlobFile(io.RawIOBase):
    """A read-only file-like over blob segments, opened per read.

    Stands in for a moto ``FakeKey``'s spooled ``_value_buffer`` (which moto reads with
    ``seek``/``read``), so moto serves a big object's persisted bytes without a copy.
    """

    def __init__(self, paths: list[Path]) -> None:
        super().__init__()
        self.paths = paths
        self.total = sum(p.stat().st_size for p in paths)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self.total}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        remaining = self.total - self._pos
        count = remaining if size is None or size < 0 else min(size, remaining)
        if count <= 0:
            return b""
        with BlobReader(self.paths) as reader:
            data = reader.read(self._pos, count)
        self._pos += len(data)
        return data

    def truncate(self, size: int | None = None) -> int:
        # moto's value setter truncates before writing; our objects are immutable.
        raise io.UnsupportedOperation("R2 blobs are immutable")

    def write(self, data: Any) -> int:
        raise io.UnsupportedOperation("R2 blobs are immutable")


class BlobReader:
    """Positional reads over an object's bytes: inline bytes or open blob files.

    Descriptors are opened when the object is looked up (under the store lock), so a
    reader keeps seeing the version it opened even if the key is overwritten or deleted.
    """

    def __init__(self, paths: list[Path] | None = None, data: bytes | None = None) -> None:
        self._data = data
        self._fds: list[tuple[int, int]] = []
        if paths is not None:
            try:
                for path in paths:
                    fd = os.open(path, os.O_RDONLY)
                    try:
                        size = os.fstat(fd).st_size
                    except OSError:
                        os.close(fd)
                        raise
                    self._fds.append((fd, size))
            except OSError:
                self.close()
                raise
        self.size = len(data) if data is not None else sum(s for _, s in self._fds)

    def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` (fewer at the end of the object)."""
        end = min(self.size, offset + length)
        if offset >= end:
            return b""
        if self._data is not None:
            return self._data[offset:end]
        chunks: list[bytes] = []
        start = 0
        for fd, size in self._fds:
            seg_end = start + size
            if seg_end > offset and start < end:
                lo = max(offset, start) - start
                hi = min(end, seg_end) - start
                while lo < hi:
                    piece = os.pread(fd, hi - lo, lo)
                    if not piece:
                        raise OSError("R2 blob file is shorter than its index entry")
                    chunks.append(piece)
                    lo += len(piece)
            start = seg_end
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def chunks(self, offset: int, length: int, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        end = min(self.size, offset + length)
        while offset < end:
            n = min(chunk_size, end - offset)
            yield self.read(offset, n)
            offset += n

    def close(self) -> None:
        for fd, _ in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def _dumps(value: Any) -> str:
    if not value:
        return "{}" if isinstance(value, dict) else json.dumps(value)
    if len(value) == 1 and isinstance(value, dict):
        # The usual checksums ({"md5": hex}): the text json.dumps would give, without it.
        md5 = value.get("md5")
        if type(md5) is str and md5.isalnum() and md5.isascii():
            return f'{{"md5":"{md5}"}}'
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _loads(text: str) -> Any:
    """``json.loads`` for the index's metadata columns, with ``_dumps``'s two common shapes
    (no metadata, md5-only checksums) decoded without the parser: a listing page decodes
    three columns per object."""
    if text == "{}":
        return {}
    if len(text) == 42 and text.startswith('{"md5":"') and text.endswith('"}'):
        md5 = text[8:40]
        if md5.isalnum() and md5.isascii():
            return {"md5": md5}
    return json.loads(text)


def _stored(row: tuple[Any, ...]) -> StoredObject:
    """A ``StoredObject`` from the first eight columns of an object row (``_META``)."""
    http, custom = row[5], row[6]
    return StoredObject(row[0], row[1], row[2], row[3], row[4],
                        {} if http == "{}" else _loads(http), {} if custom == "{}" else _loads(custom),
                        _loads(row[7]))


def prefix_end(prefix: str) -> str | None:
    """The smallest string above every string that starts with ``prefix`` (``None``: none).

    Keys compare by code point here and in SQLite (UTF-8 bytes under the BINARY collation
    give the same order), so ``prefix <= key < prefix_end(prefix)`` is exactly "starts with
    ``prefix``" — a range the primary-key index answers without reading anything outside it.
    Surrogates never occur in keys (they cannot be stored as UTF-8), so they are skipped.
    """
    while prefix:
        code = ord(prefix[-1])
        if code < 0x10FFFF:
            code += 1
            if 0xD800 <= code <= 0xDFFF:
                code = 0xE000
            return prefix[:-1] + chr(code)
        prefix = prefix[:-1]
    return None


@dataclass
class IndexStats:
    """What the store read, for tests that prove the design (counts, not timings)."""

    rows_read: int = 0     # object rows fetched from an index
    moto_keys: int = 0     # FakeKeys built for moto's view (IndexedKeys)
    hot_hits: int = 0      # lookups answered by the hot-object cache
    queries: int = 0       # range queries run by walk()
    sweeps: int = 0        # orphan sweeps of a blobs/ directory at open


class HotObjects:
    """A bounded LRU cache of recently written or read objects (``HOT_ENTRIES`` objects and
    ``HOT_BYTES`` bytes at most): metadata, inline bytes, blob names.

    Bounded in both count and bytes, so it is the same size for a bucket of ten objects and
    one of ten million. Callers hold the store lock; every write and delete updates it, and
    nothing else writes the index, so an entry is always the committed version. The
    uncached path (an index read) is the reference: a test runs the same operations with
    and without the cache and compares every answer.
    """

    def __init__(self, max_entries: int = HOT_ENTRIES, max_bytes: int = HOT_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: collections.OrderedDict[
            tuple[str, str], tuple[StoredObject, bytes | None, list[str] | None]] = collections.OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, bucket: str, key: str) -> tuple[StoredObject, bytes | None, list[str] | None] | None:
        entry = self._entries.get((bucket, key))
        if entry is not None:
            self._entries.move_to_end((bucket, key))
        return entry

    def put(self, bucket: str, key: str, obj: StoredObject, data: bytes | None,
            names: list[str] | None) -> None:
        self.discard(bucket, key)
        cost = _ENTRY_COST + (len(data) if data is not None else 0)
        if self.max_entries <= 0 or cost > self.max_bytes:
            return
        self._entries[(bucket, key)] = (obj, data, names)
        self.bytes += cost
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            _, (_, old, _) = self._entries.popitem(last=False)
            self.bytes -= _ENTRY_COST + (len(old) if old is not None else 0)

    def discard(self, bucket: str, key: str) -> None:
        entry = self._entries.pop((bucket, key), None)
        if entry is not None:
            self.bytes -= _ENTRY_COST + (len(entry[1]) if entry[1] is not None else 0)

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0


class _ReadOnlyKeys(TypeError):
    """A write through moto's key-store API: a bug of ours, never a user's error (so outside
    the ``EmulatorError`` hierarchy); a ``TypeError`` as writing to any read-only mapping is."""


class IndexedKeys(_VersionedKeyStore):
    """moto's key store of one bucket (``FakeBucket.keys``), answered from the index.

    A read-only mapping of key → ``FakeKey`` built on demand from the index row (bytes read
    from disk when moto reads the value); it holds no keys itself. Writes through moto's
    API are refused: every write must be committed to the index first (``R2Store.put``).
    Iterating walks the index in key order, a page at a time.
    """

    def __init__(self, store: R2Store, bucket: str) -> None:
        super().__init__()
        self._store = store
        self._bucket = bucket

    def __sgetitem__(self, key: str) -> list[Any]:
        fake = self._store._moto_key(self._bucket, key) if isinstance(key, str) else None
        if fake is None:
            raise KeyError(key)
        return [fake]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._store.head(self._bucket, key) is not None

    def __len__(self) -> int:
        return self._store.count(self._bucket)

    def __bool__(self) -> bool:
        return next(iter(self), None) is not None

    def __iter__(self) -> Iterator[str]:
        return (obj.key for obj in self._store.list(self._bucket))

    def keys(self) -> Iterator[str]:  # type: ignore[override]  # moto's bucket.keys is a mapping; iterators are all moto calls
        return iter(self)

    def _self_iterable(self) -> Any:
        return self

    def items(self) -> Iterator[tuple[str, Any]]:  # type: ignore[override]  # see keys()
        for key in self:
            fake = self.get(key)
            if fake is not None:
                yield key, fake

    def values(self) -> Iterator[Any]:  # type: ignore[override]  # see keys()
        return (fake for _, fake in self.items())

    def lists(self) -> Iterator[tuple[str, list[Any]]]:
        return ((key, [fake]) for key, fake in self.items())

    iteritems = items
    itervalues = values
    iterlists = lists

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise _ReadOnlyKeys("R2 objects are written through R2Store (committed to the index "
                            "first), not through moto's write API")

    __setitem__ = __delitem__ = setlist = pop = popitem = clear = update = setdefault = _refuse

    def __repr__(self) -> str:
        return f"<IndexedKeys of R2 bucket {self._bucket!r}>"


class _Bucket:
    """One bucket's directory, index connection and moto ``FakeBucket``."""

    def __init__(self, name: str, root: Path, store: R2Store) -> None:
        self.name = name
        self.stats = store.stats
        self.dir = root / safe_component(name)
        self.blobs = self.dir / "blobs"
        self.staging = self.dir / "staging"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.staging.mkdir(parents=True, exist_ok=True)
        bind_bytes_directly()
        self.db = sqlite3.connect(self.dir / "index.sqlite3", isolation_level=None,
                                  check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA wal_autocheckpoint=0")  # see emulator.sqlite
        self._migrate()
        self.db.executescript(_SCHEMA)
        self.checkpointer = WalCheckpointer(self.dir / "index.sqlite3", CHECKPOINT_EVERY, "r2-wal")
        self.db.execute("INSERT OR IGNORE INTO info VALUES ('name', ?)", (name,))
        # moto's create_bucket() also registers the name process-wide; constructing the
        # FakeBucket directly keeps two platforms in one process (tests) independent.
        self.fake = FakeBucket(name=name, account_id=_ACCOUNT, region_name=_REGION)  # type: ignore[abstract]  # moto's FakeBucket leaves abstract members it never uses unimplemented
        self.fake.keys = IndexedKeys(store, name)
        self.created = datetime.fromtimestamp(self.dir.stat().st_mtime, tz=UTC)
        # The bucket's CORS rules (S3 JSON shape, see cors.py), kept in the info table.
        row = self.db.execute("SELECT value FROM info WHERE name = 'cors'").fetchone()
        self.cors: list[dict[str, Any]] | None = json.loads(row[0]) if row else None

    def _migrate(self) -> None:
        """Move an index of layout 1 (inline bytes in the objects row) to this layout, in
        one transaction (a run killed half-way leaves layout 1, migrated again next time)."""
        row = self.db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'objects'"
                              ).fetchone()
        if row is None or "WITHOUT ROWID" in row[0].upper():
            return
        with Transaction(self.db, "BEGIN IMMEDIATE"):
            self.db.execute("ALTER TABLE objects RENAME TO objects_layout_1")
            for statement in _schema_statements():
                self.db.execute(statement)
            for statement in _COPY_FROM_LAYOUT_1:
                self.db.execute(statement)

    def info(self, name: str) -> str | None:
        row = self.db.execute("SELECT value FROM info WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def recover(self) -> None:
        """Make the directory match the index after whatever ended the last run.

        Staging files are uploads that never finished. Blob files the ``blobs`` table does
        not name are orphans of a put killed between its rename and its commit (or of an
        unlink that never ran after a commit); they are looked up one by one, so this needs
        no memory per object, and it runs only when the last run did not close the bucket
        (``state`` is still ``open``) or ``blobs/`` changed since it did.
        """
        with os.scandir(self.staging) as entries:
            for entry in entries:
                _unlink(Path(entry.path))
        sweep = self.info("state") != "closed" or self.info("blobs_mtime") != str(self._blobs_mtime())
        if self.info("schema") != SCHEMA_VERSION:
            # An index written before the blobs table: name every referenced blob once.
            self.db.execute("BEGIN")
            self.db.execute("INSERT OR IGNORE INTO blobs (name) SELECT j.value FROM objects, "
                            "json_each(objects.segments) AS j WHERE objects.segments IS NOT NULL")
            self.db.execute("INSERT OR IGNORE INTO blobs (name) SELECT blob FROM parts")
            self.db.execute("INSERT OR REPLACE INTO info VALUES ('schema', ?)", (SCHEMA_VERSION,))
            self.db.execute("COMMIT")
            sweep = True
        if sweep:
            self.stats.sweeps += 1
            with os.scandir(self.blobs) as entries:
                for entry in entries:
                    if self.db.execute("SELECT 1 FROM blobs WHERE name = ?", (entry.name,)).fetchone() is None:
                        _unlink(Path(entry.path))
        self.db.execute("INSERT OR REPLACE INTO info VALUES ('state', 'open')")

    def close(self) -> None:
        """Record a clean close (the next start skips the sweep), then close the index."""
        try:
            self.db.execute("BEGIN")
            self.db.execute("INSERT OR REPLACE INTO info VALUES ('state', 'closed')")
            self.db.execute("INSERT OR REPLACE INTO info VALUES ('blobs_mtime', ?)",
                            (str(self._blobs_mtime()),))
            self.db.execute("COMMIT")
        except (sqlite3.Error, OSError):
            pass  # the next start sweeps instead
        self.checkpointer.close()
        self.db.close()  # the last connection to close checkpoints the rest

    def _blobs_mtime(self) -> int:
        return self.blobs.stat().st_mtime_ns


def _schema_statements() -> list[str]:
    """``_SCHEMA`` as single statements, for use inside a transaction (``executescript``
    would commit it first)."""
    statements: list[str] = []
    pending = ""
    for line in _SCHEMA.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    return statements


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


class R2Store:
    """Every bucket under ``<state>/r2``: one index each, read on demand, written through."""

    def __init__(self, root: Path, on_damaged: Callable[[str, str], None] | None = None,
                 hot: HotObjects | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.backend = S3Backend(_REGION, _ACCOUNT)
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.RLock()
        # Called (bucket, key) once per object found to have lost a blob file.
        self.on_damaged = on_damaged
        self.hot = hot if hot is not None else HotObjects()
        self.stats = IndexStats()
        self._reported: set[tuple[str, str]] = set()

    # --- lifecycle ------------------------------------------------------------------
    def restore(self) -> int:
        """Open every bucket found on disk (their objects stay there); returns how many."""
        count = 0
        for index in sorted(self.root.glob("*/index.sqlite3")):
            try:
                con = sqlite3.connect(index)
                try:
                    row = con.execute("SELECT value FROM info WHERE name = 'name'").fetchone()
                finally:
                    con.close()
            except sqlite3.Error:
                continue
            if row:
                with self._lock:
                    if row[0] not in self._buckets:
                        self._open_bucket(row[0])
                        count += 1
        return count

    def close(self) -> None:
        with self._lock:
            for bucket in self._buckets.values():
                bucket.close()
            self._buckets.clear()
            self.backend.buckets.clear()
            self.hot.clear()

    def _open_bucket(self, name: str) -> None:
        bucket = _Bucket(name, self.root, self)
        try:
            bucket.recover()
        except BaseException:
            bucket.checkpointer.close()
            bucket.db.close()
            raise
        self._buckets[name] = bucket
        self.backend.buckets[name] = bucket.fake

    def _report_damaged(self, b: _Bucket, key: str) -> None:
        with self._lock:
            if (b.name, key) in self._reported:
                return
            if len(self._reported) >= 10_000:  # a bound, not a history
                self._reported.clear()
            self._reported.add((b.name, key))
        if self.on_damaged is not None:
            self.on_damaged(b.name, key)

    def _blobs_exist(self, b: _Bucket, key: str, segments: str) -> bool:
        for name in json.loads(segments):
            if not os.path.exists(os.path.join(b.blobs, name)):
                self._report_damaged(b, key)
                return False
        return True

    # --- buckets --------------------------------------------------------------------
    def ensure_bucket(self, name: str) -> None:
        with self._lock:
            if name not in self._buckets:
                self._open_bucket(name)

    def has_bucket(self, name: str) -> bool:
        return name in self._buckets

    def bucket_names(self) -> list[str]:
        return sorted(self._buckets)

    def bucket_created(self, name: str) -> datetime:
        return self._bucket(name).created

    def _bucket(self, name: str) -> _Bucket:
        try:
            return self._buckets[name]
        except KeyError:
            raise KeyError(f"no R2 bucket named {name!r}") from None

    def bucket_cors(self, name: str) -> list[dict[str, Any]] | None:
        """The bucket's CORS rules as stored (S3 JSON), or None when it has none."""
        return self._bucket(name).cors

    def set_bucket_cors(self, name: str, rules: list[dict[str, Any]] | None) -> None:
        """Replace (or with None, delete) the bucket's CORS rules; committed on return."""
        with self._lock:
            bucket = self._bucket(name)
            if rules is None:
                bucket.db.execute("DELETE FROM info WHERE name = 'cors'")
            else:
                bucket.db.execute("INSERT OR REPLACE INTO info VALUES ('cors', ?)",
                                  (json.dumps(rules, separators=(",", ":")),))
            bucket.checkpointer.committed()
            bucket.cors = rules

    def stage(self, bucket: str, algorithms: Iterable[str] = ()) -> Staged:
        return Staged(self._bucket(bucket).staging, algorithms)

    # --- objects --------------------------------------------------------------------
    def head(self, bucket: str, key: str) -> StoredObject | None:
        b = self._bucket(bucket)
        with self._lock:
            entry = self.hot.get(bucket, key)
            if entry is not None:
                self.stats.hot_hits += 1
                return entry[0]
            row = b.db.execute(_HEAD_SQL, (key,)).fetchone()
            if row is None:
                return None
            self.stats.rows_read += 1
        if row[8] is not None and not self._blobs_exist(b, key, row[8]):
            return None
        return _stored(row)

    def open(self, bucket: str, key: str) -> tuple[StoredObject, BlobReader] | None:
        """Metadata plus a reader pinned to that version."""
        b = self._bucket(bucket)
        with self._lock:
            entry = self.hot.get(bucket, key)
            if entry is not None:
                self.stats.hot_hits += 1
                obj, data, names = entry
            else:
                row = b.db.execute(_OPEN_SQL, (key,)).fetchone()
                if row is None:
                    return None
                self.stats.rows_read += 1
                obj = _stored(row)
                names = json.loads(row[8]) if row[8] is not None else None
                data = None if names is not None else (row[9] if row[9] is not None else b"")
            if names is None:
                if entry is None:
                    self.hot.put(bucket, key, obj, data, None)
                return obj, BlobReader(data=data)
            try:
                reader: BlobReader | None = BlobReader([b.blobs / n for n in names])
            except OSError:
                reader = None
            if reader is None or reader.size != obj.size:
                if reader is not None:
                    reader.close()
                self.hot.discard(bucket, key)
                self._report_damaged(b, key)
                return None
            if entry is None:
                self.hot.put(bucket, key, obj, None, names)
            return obj, reader

    def _current_names(self, b: _Bucket, key: str) -> list[str] | None:
        """The blob files of the committed version of ``key`` (``None``: inline or absent)."""
        entry = self.hot.get(b.name, key)
        if entry is not None:
            return entry[2]
        row = b.db.execute("SELECT segments FROM objects WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        self.stats.rows_read += 1
        return json.loads(row[0]) if row[0] is not None else None

    def put(self, bucket: str, key: str, staged: Staged, *, http_metadata: dict[str, Any],
            custom_metadata: dict[str, str], checksums: dict[str, str], uploaded: int,
            condition: Any = None) -> StoredObject | None:
        """Commit staged bytes as ``key``; ``None`` (nothing written) if ``condition``
        (a callable on the current object or ``None``) says no."""
        b = self._bucket(bucket)
        with self._lock:
            if condition is not None and not condition(self.head(bucket, key)):
                staged.discard()
                return None
            obj = StoredObject(key, uuid.uuid4().hex, staged.size, staged.hexdigest("md5"),
                               uploaded, http_metadata, custom_metadata, checksums)
            data = staged.inline
            names: list[str] | None = None
            if data is None:
                assert staged.path is not None
                names = [staged.path.name]
                os.replace(staged.path, b.blobs / staged.path.name)
                staged.path = None
            try:
                self._commit_object(b, obj, data, names)
            except BaseException:
                self._unlink(b, names)  # renamed but never committed: nothing refers to it
                raise
            return obj

    def _commit_object(self, b: _Bucket, obj: StoredObject, data: bytes | None,
                       names: list[str] | None,
                       extra_sql: list[tuple[str, tuple[Any, ...]]] | None = None) -> None:
        """Make ``obj`` the committed version of its key, in one transaction: its inline
        ``data`` (a new body) or its blob ``names``, the blob references, ``extra_sql``."""
        old_names = self._current_names(b, obj.key)
        gone = [n for n in old_names or () if not names or n not in names]
        db = b.db
        with Transaction(db):
            body = None
            if data is not None:
                body = db.execute("INSERT INTO bodies (data) VALUES (?)", (data,)).lastrowid
            # The upsert replaces the row; the trigger drops the old body, if any.
            db.execute(_UPSERT_SQL, (
                obj.key, obj.version, obj.size, obj.etag, obj.uploaded, _dumps(obj.http_metadata),
                _dumps(obj.custom_metadata), _dumps(obj.checksums),
                _dumps(names) if names is not None else None, body))
            if names:
                db.executemany("INSERT OR IGNORE INTO blobs VALUES (?)", [(n,) for n in names])
            if gone:
                db.executemany("DELETE FROM blobs WHERE name = ?", [(n,) for n in gone])
            for sql, params in extra_sql or ():
                db.execute(sql, params)
        b.checkpointer.committed()
        self.hot.put(b.name, obj.key, obj, data, names)
        self._unlink(b, gone)

    def _unlink(self, b: _Bucket, names: Iterable[str] | None) -> None:
        for name in names or ():
            _unlink(b.blobs / name)

    def delete(self, bucket: str, keys: Iterable[str]) -> int:
        b = self._bucket(bucket)
        with self._lock:
            unique = list(dict.fromkeys(keys))
            found: list[tuple[str, list[str] | None]] = []
            for i in range(0, len(unique), 500):
                batch = unique[i:i + 500]
                rows = b.db.execute(f"SELECT key, segments FROM objects WHERE key IN "  # noqa: S608 - placeholders only; keys are parameters
                                    f"({','.join('?' * len(batch))})", batch).fetchall()
                self.stats.rows_read += len(rows)
                found.extend((k, json.loads(s) if s is not None else None) for k, s in rows)
            if not found:
                return 0
            blobs = [n for _, names in found for n in names or ()]
            with Transaction(b.db):
                b.db.executemany("DELETE FROM objects WHERE key = ?", [(k,) for k, _ in found])
                b.db.executemany("DELETE FROM blobs WHERE name = ?", [(n,) for n in blobs])
            b.checkpointer.committed()
            for k, _ in found:
                self.hot.discard(bucket, k)
            self._unlink(b, blobs)
            return len(found)

    def walk(self, bucket: str, prefix: str = "", after: str = "", delimiter: str = "",
             chunk: int = WALK_CHUNK) -> Iterator[StoredObject | str]:
        """Objects whose key starts with ``prefix`` and sorts after ``after``, in key order.

        With a ``delimiter``, a key holding it after the prefix is rolled up into its common
        prefix (the key up to and including the delimiter), yielded once as a ``str`` in
        key order — unless it sorts at or before ``after`` (an earlier page listed it) — and
        then skipped over: the next query starts at ``prefix_end`` of the common prefix,
        so a prefix holding a million keys costs one range query, not a million rows.

        Rows come from range queries on the primary key, ``chunk`` at a time under the
        lock (a listing page asks for its limit + 1), so concurrent writes never shift the
        walk and nothing outside the requested range is read.
        """
        b = self._bucket(bucket)
        hi = prefix_end(prefix)
        lo, inclusive = (prefix, True) if prefix > after else (after, False)
        size = chunk
        while True:
            sql = _RANGE_SQL[(inclusive, hi is not None)]
            with self._lock:
                rows = b.db.execute(sql, (lo, hi, size) if hi is not None else (lo, size)).fetchall()
                self.stats.rows_read += len(rows)
                self.stats.queries += 1
            group: str | None = None
            for row in rows:
                key = row[0]
                if group is not None:
                    if key.startswith(group):
                        continue
                    group = None
                if delimiter:
                    i = key.find(delimiter, len(prefix))
                    if i >= 0:
                        group = key[:i + len(delimiter)]
                        if group > after:
                            yield group
                        continue
                if row[8] is not None and not self._blobs_exist(b, key, row[8]):
                    continue
                yield _stored(row)
            if len(rows) < size:
                return  # the range is exhausted
            if group is not None:
                # The chunk ended inside a common prefix: jump past all of it, then read
                # small chunks again (the next key may start another big one).
                end = prefix_end(group)
                if end is None:
                    return
                lo, inclusive, size = end, True, _SKIP_CHUNK
            else:
                lo, inclusive, size = rows[-1][0], False, min(chunk, size * 2)

    def list(self, bucket: str, prefix: str = "", after: str = "",
             chunk: int = WALK_CHUNK) -> Iterator[StoredObject]:
        """``walk`` without a delimiter: every object under ``prefix`` after ``after``."""
        for item in self.walk(bucket, prefix, after, "", chunk):
            assert isinstance(item, StoredObject)
            yield item

    def count(self, bucket: str) -> int:
        """How many objects the bucket holds (a scan of the index: for inspection only)."""
        b = self._bucket(bucket)
        with self._lock:
            return int(b.db.execute("SELECT count(*) FROM objects").fetchone()[0])

    def _moto_key(self, bucket: str, key: str) -> FakeKey | None:
        """A moto ``FakeKey`` for the committed version of ``key``, built from its row (for
        ``IndexedKeys``; the bytes stay on disk until moto reads the value)."""
        b = self._bucket(bucket)
        with self._lock:
            row = b.db.execute(_OPEN_SQL, (key,)).fetchone()
            if row is None:
                return None
            self.stats.rows_read += 1
        obj = _stored(row)
        common: dict[str, Any] = {"name": key, "account_id": _ACCOUNT, "region_name": _REGION, "etag": obj.etag,
                  "bucket_name": bucket}
        if row[8] is not None:
            try:
                buffer = _BlobFile([b.blobs / n for n in json.loads(row[8])])
            except OSError:
                self._report_damaged(b, key)
                return None
            fake = FakeKey(value=b"", **common)
            fake._value_buffer.close()
            fake._value_buffer = buffer  # type: ignore[assignment]  # see _MOTO_INTERNALS
            fake.contentsize = obj.size
        else:
            fake = FakeKey(value=row[9] if row[9] is not None else b"", **common)
        fake.last_modified = _EPOCH + timedelta(milliseconds=obj.uploaded)
        if obj.http_metadata.get("contentType"):
            fake.set_metadata({"Content-Type": obj.http_metadata["contentType"]})
        fake.r2 = obj  # type: ignore[attr-defined]  # read back by IndexedKeys (see _MOTO_INTERNALS)
        # moto's __del__ warns about keys nobody disposed of; a view key owns nothing but
        # its buffer, which the garbage collector closes (see _MOTO_INTERNALS).
        fake.disposed = True
        with self._lock:
            self.stats.moto_keys += 1
        return fake

    # --- multipart ------------------------------------------------------------------
    def create_upload(self, bucket: str, key: str, http_metadata: dict[str, Any],
                      custom_metadata: dict[str, str]) -> str:
        b = self._bucket(bucket)
        upload_id = secrets.token_urlsafe(48)
        with self._lock:
            b.db.execute("INSERT INTO uploads VALUES (?,?,?,?,?)",
                         (upload_id, key, "in-progress", _dumps(http_metadata),
                          _dumps(custom_metadata)))
            b.checkpointer.committed()
        return upload_id

    def get_upload(self, bucket: str, upload_id: str) -> UploadRecord | None:
        b = self._bucket(bucket)
        with self._lock:
            row = b.db.execute("SELECT upload_id, key, state, http_metadata, custom_metadata"
                               " FROM uploads WHERE upload_id = ?", (upload_id,)).fetchone()
        if row is None:
            return None
        return UploadRecord(row[0], row[1], row[2], json.loads(row[3]), json.loads(row[4]))

    def put_part(self, bucket: str, upload_id: str, key: str, part_number: int,
                 staged: Staged) -> PartRecord:
        b = self._bucket(bucket)
        with self._lock:
            upload = self.get_upload(bucket, upload_id)
            if upload is None or upload.key != key or upload.state != "in-progress":
                staged.discard()
                raise R2Error("NoSuchUpload")
            name = uuid.uuid4().hex
            path = b.blobs / name
            if staged.path is not None:
                os.replace(staged.path, path)
                staged.path = None
            else:
                with open(path, "wb") as f:
                    f.write(staged.inline or b"")
            # R2 gives parts a random etag; re-uploading a part number replaces it.
            part = PartRecord(part_number, secrets.token_hex(16), staged.size,
                              staged.hexdigest("md5"))
            old = b.db.execute("SELECT blob FROM parts WHERE upload_id = ? AND part_number = ?",
                               (upload_id, part_number)).fetchone()
            try:
                with Transaction(b.db):
                    b.db.execute("INSERT OR REPLACE INTO parts VALUES (?,?,?,?,?,?)",
                                 (upload_id, part_number, part.etag, part.size, part.md5, name))
                    b.db.execute("INSERT OR IGNORE INTO blobs VALUES (?)", (name,))
                    if old:
                        b.db.execute("DELETE FROM blobs WHERE name = ?", (old[0],))
            except BaseException:
                _unlink(path)
                raise
            b.checkpointer.committed()
            if old:
                self._unlink(b, [old[0]])
        return part

    def list_parts(self, bucket: str, upload_id: str) -> dict[int, PartRecord]:
        b = self._bucket(bucket)
        with self._lock:
            rows = b.db.execute("SELECT part_number, etag, size, md5 FROM parts"
                                " WHERE upload_id = ? ORDER BY part_number",
                                (upload_id,)).fetchall()
        return {r[0]: PartRecord(r[0], r[1], r[2], r[3]) for r in rows}

    def complete_upload(self, bucket: str, upload_id: str, key: str,
                        parts: builtins.list[tuple[int, str]], uploaded: int) -> StoredObject:
        """Apply R2's completion rules (docs/r2.md, "The binding") and commit the object."""
        b = self._bucket(bucket)
        with self._lock:
            upload = self.get_upload(bucket, upload_id)
            if upload is None or upload.key != key:
                raise R2Error("InternalError")
            if upload.state != "in-progress":
                raise R2Error("NoSuchUpload")
            numbers = [n for n, _ in parts]
            if len(set(numbers)) != len(numbers):
                raise R2Error("InternalError")
            stored = self.list_parts(bucket, upload_id)
            for n, etag in parts:
                if n not in stored or stored[n].etag != etag:
                    raise R2Error("InvalidPart")
            for n, _ in parts[:-1]:
                if stored[n].size < MIN_PART_SIZE:
                    raise R2Error("EntityTooSmall")
            ordered = sorted(numbers)
            if len(ordered) > 1:
                first = stored[ordered[0]].size
                if any(stored[n].size != first for n in ordered[:-1]) or \
                        stored[ordered[-1]].size > first:
                    raise R2Error("BadUpload")
            md5 = hashlib.md5(b"".join(bytes.fromhex(stored[n].md5) for n in ordered), usedforsecurity=False)
            blobs = dict(b.db.execute("SELECT part_number, blob FROM parts WHERE upload_id = ?",
                                      (upload_id,)).fetchall())
            names = [blobs[n] for n in ordered]
            obj = StoredObject(key, uuid.uuid4().hex, sum(stored[n].size for n in ordered),
                               f"{md5.hexdigest()}-{len(ordered)}", uploaded,
                               upload.http_metadata, upload.custom_metadata, {})
            unused = [blob for n, blob in blobs.items() if n not in set(ordered)]
            self._commit_object(b, obj, None, names, [
                ("UPDATE uploads SET state = 'completed' WHERE upload_id = ?", (upload_id,)),
                ("DELETE FROM parts WHERE upload_id = ?", (upload_id,)),
                *(("DELETE FROM blobs WHERE name = ?", (blob,)) for blob in unused),
            ])
            self._unlink(b, unused)
            return obj

    def abort_upload(self, bucket: str, upload_id: str, key: str) -> None:
        b = self._bucket(bucket)
        with self._lock:
            upload = self.get_upload(bucket, upload_id)
            if upload is None or upload.key != key:
                raise R2Error("InternalError")
            if upload.state != "in-progress":
                return  # aborting a completed (or aborted) upload is a no-op in R2
            blobs = [r[0] for r in b.db.execute("SELECT blob FROM parts WHERE upload_id = ?",
                                                (upload_id,))]
            with Transaction(b.db):
                b.db.execute("UPDATE uploads SET state = 'aborted' WHERE upload_id = ?", (upload_id,))
                b.db.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
                b.db.executemany("DELETE FROM blobs WHERE name = ?", [(n,) for n in blobs])
            b.checkpointer.committed()
            self._unlink(b, blobs)

    def uploads(self, bucket: str) -> builtins.list[UploadRecord]:
        b = self._bucket(bucket)
        with self._lock:
            rows = b.db.execute("SELECT upload_id, key, state, http_metadata, custom_metadata"
                                " FROM uploads WHERE state = 'in-progress' ORDER BY key").fetchall()
        return [UploadRecord(r[0], r[1], r[2], json.loads(r[3]), json.loads(r[4])) for r in rows]
