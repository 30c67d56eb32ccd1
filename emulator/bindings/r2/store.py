"""The R2 engine: moto's in-process S3 backend plus write-through persistence.

This is the only module that imports moto (its models are internals: pinned in
pyproject.toml and hidden here). moto holds the live state — buckets and their keys as
``FakeKey`` objects, which is what ``get``/``head``/``list`` read — and every write goes
through to disk *before* the call returns, because moto alone keeps nothing across a
restart:

    <state>/r2/<safe bucket>/index.sqlite3    one row per object / upload / part (WAL);
                                              bucket settings (its CORS rules) in ``info``
    <state>/r2/<safe bucket>/blobs/<id>       object bytes above ``INLINE_MAX``
    <state>/r2/<safe bucket>/staging/<id>     uploads in progress (removed at start)

Keys may hold ``../`` or anything else, so they never become paths: blob files are named by
random ids and the key lives only in the index. A put is atomic: the bytes are written to a
staging file, renamed into ``blobs/`` and then the index row is committed in one SQLite
transaction; a ``kill -9`` at any point leaves either the old or the new object (orphaned
blobs are swept at start). SQLite runs with ``synchronous=NORMAL`` in WAL mode: committed
rows survive a killed process (not a power cut without fsync — the same trade-off as
Miniflare's SQLite-backed store).

Small objects (``INLINE_MAX``) are stored inline in the index and live in moto's own
buffer. Big ones are never copied into moto: their ``FakeKey`` reads through ``_BlobFile``
(a file-like over the blob segments), so a 500 MB Parquet file is neither held in memory
nor duplicated into moto's temporary files, and range reads use ``os.pread`` on the blob.
A multipart object keeps its parts' files as its segments (no concatenation copy).

All methods are synchronous and thread-safe (one lock per store): the binding calls the
cheap ones on the event loop and hands big writes to a thread.
"""

from __future__ import annotations

import bisect
import builtins
import hashlib
import io
import json
import os
import secrets
import sqlite3
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator

from moto.core.model_instances import model_data
from moto.s3.models import FakeBucket, FakeKey, S3Backend

from emulator.bindings.r2.errors import R2Error
from emulator.sqlite import WalCheckpointer, bind_bytes_directly
from emulator.state import safe_component

# Objects up to this size live inline in the index and in moto's in-memory buffer.
INLINE_MAX = 256 * 1024
# R2's multipart minimum part size (all parts but the last).
MIN_PART_SIZE = 5 * 1024 * 1024
_ACCOUNT = "000000000000"
_REGION = "us-east-1"
CHECKPOINT_EVERY = 500  # index commits between background WAL checkpoints
_EPOCH = datetime(1970, 1, 1)  # naive UTC, what moto keeps in ``last_modified``


class _Untracked(list):  # type: ignore[type-arg]
    """A model-instance list that keeps nothing.

    moto's ``BaseModel.__new__`` appends every model it creates (each ``FakeKey``, and the
    ACL grant objects made with it) to a class-wide list for its dashboard and ``reset``,
    which we use neither: in a long-running emulator that list only grows, one dead key
    per put, and makes every garbage collection walk them all.
    """

    def append(self, item: Any) -> None:
        pass


for _model in model_data["s3"].values():
    _model.instances_tracked = _Untracked()  # type: ignore[attr-defined]
_SCHEMA = """
CREATE TABLE IF NOT EXISTS info (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    key TEXT PRIMARY KEY, version TEXT NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
    uploaded INTEGER NOT NULL, http_metadata TEXT NOT NULL, custom_metadata TEXT NOT NULL,
    checksums TEXT NOT NULL, data BLOB, segments TEXT
);
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY, key TEXT NOT NULL, state TEXT NOT NULL,
    http_metadata TEXT NOT NULL, custom_metadata TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, etag TEXT NOT NULL,
    size INTEGER NOT NULL, md5 TEXT NOT NULL, blob TEXT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
"""


@dataclass(frozen=True)
class StoredObject:
    """An object's metadata as persisted (times in epoch milliseconds, hashes as hex)."""

    key: str
    version: str
    size: int
    etag: str
    uploaded: int
    http_metadata: dict[str, Any] = field(default_factory=dict)
    custom_metadata: dict[str, str] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)

    @property
    def uploaded_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.uploaded / 1000, tz=timezone.utc)


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
        self._hashes = {"md5": hashlib.md5()}  # the etag; md5() skips new()'s name lookup
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
            self._file = open(self.path, "wb")
            for part in self._buffer:
                self._file.write(part)
            self._buffer = []
        self._file.write(view)

    def finish(self) -> "Staged":
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

    moto's ``FakeKey`` reads its value through ``seek``/``read`` on ``_value_buffer``; this
    stands in for its ``SpooledTemporaryFile`` so moto serves our persisted bytes without a
    copy and without one open descriptor per object.
    """

    def __init__(self, segments: list[tuple[Path, int]]) -> None:
        super().__init__()
        self.segments = segments
        self.total = sum(size for _, size in segments)
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
        with BlobReader(self.segments) as reader:
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

    def __init__(self, segments: list[tuple[Path, int]] | None = None, data: bytes | None = None) -> None:
        self._data = data
        self._fds: list[tuple[int, int]] = []
        if segments is not None:
            try:
                for path, size in segments:
                    self._fds.append((os.open(path, os.O_RDONLY), size))
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

    def __enter__(self) -> "BlobReader":
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


class _Bucket:
    """One bucket's directory, index connection and moto ``FakeBucket``."""

    def __init__(self, name: str, root: Path, backend: S3Backend) -> None:
        self.name = name
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
        self.db.executescript(_SCHEMA)
        self.checkpointer = WalCheckpointer(self.dir / "index.sqlite3", CHECKPOINT_EVERY, "r2-wal")
        self.db.execute("INSERT OR IGNORE INTO info VALUES ('name', ?)", (name,))
        # moto's create_bucket() also registers the name process-wide; constructing the
        # FakeBucket directly keeps two platforms in one process (tests) independent.
        self.fake = FakeBucket(name=name, account_id=_ACCOUNT, region_name=_REGION)  # type: ignore[abstract]
        backend.buckets[name] = self.fake
        self.created = datetime.fromtimestamp(self.dir.stat().st_mtime, tz=timezone.utc)
        self.sorted_keys: list[str] = []  # live keys in order, for list()
        # The bucket's CORS rules (S3 JSON shape, see cors.py), kept in the info table.
        row = self.db.execute("SELECT value FROM info WHERE name = 'cors'").fetchone()
        self.cors: list[dict[str, Any]] | None = json.loads(row[0]) if row else None

    def segments(self, names: list[str]) -> list[tuple[Path, int]]:
        return [(self.blobs / n, (self.blobs / n).stat().st_size) for n in names]


class R2Store:
    """Every bucket under ``<state>/r2``, live in moto, written through to disk."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.backend = S3Backend(_REGION, _ACCOUNT)
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.RLock()
        # (bucket, key) of indexed objects whose blob files were missing at restore.
        self.damaged: builtins.list[tuple[str, str]] = []

    # --- lifecycle ------------------------------------------------------------------
    def restore(self) -> int:
        """Load every bucket found on disk into moto; returns the number of objects."""
        count = 0
        for index in sorted(self.root.glob("*/index.sqlite3")):
            try:
                con = sqlite3.connect(index)
                row = con.execute("SELECT value FROM info WHERE name = 'name'").fetchone()
                con.close()
            except sqlite3.Error:
                continue
            if row:
                count += self._open_bucket(row[0])
        return count

    def close(self) -> None:
        with self._lock:
            for bucket in self._buckets.values():
                bucket.checkpointer.close()
                bucket.db.close()  # the last connection to close checkpoints the rest
            self._buckets.clear()
            self.backend.buckets.clear()

    def _open_bucket(self, name: str) -> int:
        bucket = _Bucket(name, self.root, self.backend)
        self._buckets[name] = bucket
        for leftover in bucket.staging.iterdir():
            leftover.unlink(missing_ok=True)
        referenced: set[str] = set()
        loaded = 0
        for row in bucket.db.execute(
                "SELECT key, version, size, etag, uploaded, http_metadata, custom_metadata,"
                " checksums, data, segments FROM objects"):
            obj = StoredObject(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]),
                               json.loads(row[6]), json.loads(row[7]))
            names = json.loads(row[9]) if row[9] else None
            if names:
                referenced.update(names)
            try:
                self._install(bucket, obj, row[8], names, index=False)
            except OSError:
                # A blob removed behind our back: serve the rest rather than refuse to start.
                self.damaged.append((name, obj.key))
                self.backend.delete_object(name, obj.key)
                continue
            loaded += 1
        bucket.sorted_keys = sorted(k for k in bucket.fake.keys.keys())
        for (blob,) in bucket.db.execute("SELECT blob FROM parts"):
            referenced.add(blob)
        for path in bucket.blobs.iterdir():
            if path.name not in referenced:  # a put that died before its commit
                path.unlink(missing_ok=True)
        return loaded

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
    def _install(self, bucket: _Bucket, obj: StoredObject, data: bytes | None,
                 names: list[str] | None, index: bool = True) -> None:
        """Make ``obj`` the live version of its key in moto (and in the sorted key list,
        unless ``index`` is False: restore sorts once at the end)."""
        if index and obj.key not in bucket.fake.keys:
            bisect.insort(bucket.sorted_keys, obj.key)
        # moto is handed no bytes (its value setter would copy them into a spooled file):
        # its buffer is replaced by one over the bytes we already hold.
        key: FakeKey = self.backend.put_object(bucket.name, obj.key, b"", etag=obj.etag,
                                               disable_notification=True)
        paths = None
        key._value_buffer.close()
        if names is not None:
            paths = bucket.segments(names)  # sizes read once here, not on every get
            key._value_buffer = _BlobFile(paths)  # type: ignore[assignment]
        else:
            # BytesIO shares an immutable bytes object until written to (never, here), so
            # moto and our readers see one copy of a small object, not two.
            data = data if data is not None else b""
            key._value_buffer = io.BytesIO(data)  # type: ignore[assignment]
        key.contentsize = obj.size
        key.last_modified = _EPOCH + timedelta(milliseconds=obj.uploaded)
        if obj.http_metadata.get("contentType"):
            key.set_metadata({"Content-Type": obj.http_metadata["contentType"]})
        key.r2 = obj  # type: ignore[attr-defined]
        key.r2_segments = names  # type: ignore[attr-defined]
        key.r2_paths = paths  # type: ignore[attr-defined]
        key.r2_data = data  # type: ignore[attr-defined]  # inline bytes (None for blobs)

    def _live(self, bucket: _Bucket, key: str) -> FakeKey | None:
        fake = bucket.fake.keys.get(key)
        return fake if isinstance(fake, FakeKey) else None

    def head(self, bucket: str, key: str) -> StoredObject | None:
        fake = self._live(self._bucket(bucket), key)
        return fake.r2 if fake is not None else None  # type: ignore[attr-defined]

    def open(self, bucket: str, key: str) -> tuple[StoredObject, BlobReader] | None:
        """Metadata plus a reader pinned to that version."""
        b = self._bucket(bucket)
        with self._lock:
            fake = self._live(b, key)
            if fake is None:
                return None
            paths = fake.r2_paths  # type: ignore[attr-defined]
            if paths is None:
                return fake.r2, BlobReader(data=fake.r2_data)  # type: ignore[attr-defined]
            return fake.r2, BlobReader(paths)  # type: ignore[attr-defined]

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
            self._commit_object(b, obj, data, names)
            return obj

    def _commit_object(self, b: _Bucket, obj: StoredObject, data: bytes | None,
                       names: list[str] | None,
                       extra_sql: list[tuple[str, tuple[Any, ...]]] | None = None) -> None:
        old = self._live(b, obj.key)
        old_names = old.r2_segments if old is not None else None  # type: ignore[attr-defined]
        row = (obj.key, obj.version, obj.size, obj.etag, obj.uploaded,
               _dumps(obj.http_metadata), _dumps(obj.custom_metadata), _dumps(obj.checksums),
               data, _dumps(names) if names is not None else None)
        if not extra_sql:  # one statement: autocommit is its own transaction
            b.db.execute("INSERT OR REPLACE INTO objects VALUES (?,?,?,?,?,?,?,?,?,?)", row)
        else:
            b.db.execute("BEGIN")
            try:
                b.db.execute("INSERT OR REPLACE INTO objects VALUES (?,?,?,?,?,?,?,?,?,?)", row)
                for sql, params in extra_sql:
                    b.db.execute(sql, params)
                b.db.execute("COMMIT")
            except BaseException:
                b.db.execute("ROLLBACK")
                raise
        b.checkpointer.committed()
        self._install(b, obj, data, names)
        if old is not None:
            old._value_buffer.close()
        self._unlink(b, old_names)

    def _unlink(self, b: _Bucket, names: list[str] | None) -> None:
        for name in names or ():
            (b.blobs / name).unlink(missing_ok=True)

    def delete(self, bucket: str, keys: Iterable[str]) -> int:
        b = self._bucket(bucket)
        removed = 0
        with self._lock:
            doomed = [k for k in dict.fromkeys(keys) if self._live(b, k) is not None]
            if not doomed:
                return 0
            b.db.execute("BEGIN")
            b.db.executemany("DELETE FROM objects WHERE key = ?", [(k,) for k in doomed])
            b.db.execute("COMMIT")
            for k in doomed:
                fake = self._live(b, k)
                assert fake is not None
                self.backend.delete_object(bucket, k)
                i = bisect.bisect_left(b.sorted_keys, k)
                if i < len(b.sorted_keys) and b.sorted_keys[i] == k:
                    del b.sorted_keys[i]
                fake._value_buffer.close()
                self._unlink(b, fake.r2_segments)  # type: ignore[attr-defined]
                removed += 1
        return removed

    def list(self, bucket: str, prefix: str = "", after: str = "",
             chunk: int = 1000) -> Iterator[StoredObject]:
        """Objects whose key starts with ``prefix`` and sorts after ``after``, in key order.

        Keys come from a sorted list kept beside moto's dict (bisect, not a sort per page),
        ``chunk`` at a time under the lock, so concurrent writes never shift the walk.
        """
        b = self._bucket(bucket)
        last = max(after, prefix) if prefix > after else after
        inclusive = prefix > after  # the prefix itself may be a key
        while True:
            with self._lock:
                keys = b.sorted_keys
                start = (bisect.bisect_left(keys, last) if inclusive
                         else bisect.bisect_right(keys, last))
                page = keys[start:start + chunk]
            if not page:
                return
            for k in page:
                if not k.startswith(prefix):
                    return
                obj = self.head(bucket, k)
                if obj is not None:
                    yield obj
            last, inclusive = page[-1], False

    # --- multipart ------------------------------------------------------------------
    def create_upload(self, bucket: str, key: str, http_metadata: dict[str, Any],
                      custom_metadata: dict[str, str]) -> str:
        b = self._bucket(bucket)
        upload_id = secrets.token_urlsafe(48)
        with self._lock:
            b.db.execute("INSERT INTO uploads VALUES (?,?,?,?,?)",
                         (upload_id, key, "in-progress", _dumps(http_metadata),
                          _dumps(custom_metadata)))
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
            b.db.execute("INSERT OR REPLACE INTO parts VALUES (?,?,?,?,?,?)",
                         (upload_id, part_number, part.etag, part.size, part.md5, name))
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
        """Apply R2's completion rules (cloudflare-semantics.md §7) and commit the object."""
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
            md5 = hashlib.md5(b"".join(bytes.fromhex(stored[n].md5) for n in ordered))
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
            b.db.execute("BEGIN")
            b.db.execute("UPDATE uploads SET state = 'aborted' WHERE upload_id = ?", (upload_id,))
            b.db.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
            b.db.execute("COMMIT")
            self._unlink(b, blobs)

    def uploads(self, bucket: str) -> builtins.list[UploadRecord]:
        b = self._bucket(bucket)
        with self._lock:
            rows = b.db.execute("SELECT upload_id, key, state, http_metadata, custom_metadata"
                                " FROM uploads WHERE state = 'in-progress' ORDER BY key").fetchall()
        return [UploadRecord(r[0], r[1], r[2], json.loads(r[3]), json.loads(r[4])) for r in rows]
