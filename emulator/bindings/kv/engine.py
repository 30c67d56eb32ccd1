"""KV's state: one SQLite file per namespace id, ``<state>/kv/<namespace>.sqlite3``.

Table ``entries(key TEXT PRIMARY KEY, value BLOB, expiration INTEGER, metadata TEXT)``:
``expiration`` in milliseconds since the epoch (``NULL``: never), ``metadata`` the JSON text
that was stored (``NULL``: none). SQLite compares ``TEXT`` keys with ``memcmp`` over UTF-8,
which is exactly KV's list order (ascending UTF-8 bytes), so ``list`` is an index range.

Durability is the queue store's: WAL with ``synchronous=NORMAL``, every write its own
transaction, committed before the binding's call returns, so ``kill -9`` loses no
acknowledged ``put`` (docs/kv.md, "Persistence"). Automatic checkpoints are off; a
``WalCheckpointer`` runs them on a thread of its own (``emulator/sqlite.py``).

Small values are read and written on the event loop (a single-row statement costs a few
microseconds); values of ``THREAD_THRESHOLD`` bytes or more go through a one-thread executor
with a second connection, so a 25 MiB put does not stall the other apps. Expired entries
are never returned: ``get`` deletes one it meets, ``list`` skips them, and every
``PURGE_EVERY`` writes (and at open) a range delete over the expiration index removes the
rest, so expired data does not pile up on disk.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from collections.abc import Callable, Iterable

from emulator.sqlite import Transaction, WalCheckpointer, bind_bytes_directly, prefix_upper_bound

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL,
    expiration INTEGER,
    metadata TEXT
);
CREATE INDEX IF NOT EXISTS entries_by_expiration ON entries(expiration) WHERE expiration IS NOT NULL;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
"""
# Values this large are read and written off the event loop.
THREAD_THRESHOLD = 1 << 20
# A purge of expired entries every this many writes (besides the one at open).
PURGE_EVERY = 1000
CHECKPOINT_EVERY = 256


# A named tuple, not a frozen dataclass: one is built per key read, and a frozen dataclass's
# __init__ (object.__setattr__ per field) was a measurable share of a get (bench/kv.py).
class Entry(NamedTuple):
    value: bytes
    expiration: int | None  # ms since the epoch
    metadata: str | None  # JSON text


# A listed key: (name, expiration in ms since the epoch or None, metadata JSON text or None),
# the row as SQLite returns it (a list page builds up to 1,000 of them).
KeyRow = tuple[str, int | None, str | None]


def namespace_path(kv_dir: Path, namespace_id: str) -> Path:
    """Where a namespace's file lives (ids may hold any character; none escapes ``kv_dir``)."""
    from emulator.state import safe_component

    return kv_dir / f"{safe_component(namespace_id)}.sqlite3"


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    # A large write on the other connection holds the write lock for a few tens of ms.
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


class KVEngine:
    """One namespace's entries."""

    def __init__(self, path: Path, namespace_id: str) -> None:
        bind_bytes_directly()
        self.path = Path(path)
        self.namespace_id = namespace_id
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = _connect(self.path)
        self.conn.executescript(SCHEMA)
        # The file name is a file-system-safe form of the id; the id itself is kept inside.
        self.conn.execute("INSERT OR IGNORE INTO meta (name, value) VALUES ('namespace_id', ?)", (namespace_id,))
        self._checkpointer = WalCheckpointer(self.path, CHECKPOINT_EVERY, "kv-checkpoint")
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._thread_conn: sqlite3.Connection | None = None
        self._writes = 0
        self._closed = False

    # --- plumbing ------------------------------------------------------------------------
    def _wrote(self) -> None:
        self._checkpointer.committed()
        self._writes += 1

    async def off_loop(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` on this namespace's thread, with its own connection."""
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kv-io")

        def run() -> T:
            if self._thread_conn is None:
                self._thread_conn = _connect(self.path)
            return fn(self._thread_conn)

        return await asyncio.get_running_loop().run_in_executor(self._executor, run)

    # --- reads -----------------------------------------------------------------------------
    @staticmethod
    def read(conn: sqlite3.Connection, key: str) -> Entry | None:
        row = conn.execute("SELECT value, expiration, metadata FROM entries WHERE key = ?", (key,)).fetchone()
        return Entry._make(row) if row is not None else None

    def get(self, key: str, now_ms: int) -> Entry | None:
        """The live entry of ``key``; an expired one is deleted on the way."""
        entry = self.read(self.conn, key)
        if entry is not None and entry.expiration is not None and entry.expiration <= now_ms:
            self.conn.execute("DELETE FROM entries WHERE key = ? AND expiration <= ?", (key, now_ms))
            self._wrote()
            return None
        return entry

    def size(self, key: str) -> int | None:
        row = self.conn.execute("SELECT length(value) FROM entries WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row is not None else None

    def list(self, prefix: str, after: str | None, limit: int, now_ms: int) -> tuple[list[KeyRow], bool]:
        """Up to ``limit`` live keys starting with ``prefix``, after ``after``, in byte order;
        and whether more follow."""
        clauses = ["(expiration IS NULL OR expiration > ?)"]
        params: list[Any] = [now_ms]
        if prefix:
            clauses.append("key >= ?")
            params.append(prefix)
            upper = prefix_upper_bound(prefix)
            if upper is not None:
                clauses.append("key < ?")
                params.append(upper)
        if after is not None:
            clauses.append("key > ?")
            params.append(after)
        params.append(limit + 1)
        rows = self.conn.execute(
            f"SELECT key, expiration, metadata FROM entries WHERE {' AND '.join(clauses)} "  # noqa: S608 - fixed clauses; values are parameters
            "ORDER BY key LIMIT ?", params).fetchall()
        more = len(rows) > limit
        return rows[:limit], more

    def count(self, now_ms: int) -> int:
        row = self.conn.execute("SELECT count(*) FROM entries WHERE expiration IS NULL OR expiration > ?",
                                (now_ms,)).fetchone()
        return int(row[0])

    # --- writes ------------------------------------------------------------------------------
    @staticmethod
    def write(conn: sqlite3.Connection, key: str, value: bytes, expiration: int | None,
              metadata: str | None) -> None:
        conn.execute("INSERT OR REPLACE INTO entries (key, value, expiration, metadata) VALUES (?, ?, ?, ?)",
                     (key, value, expiration, metadata))

    def put(self, key: str, value: bytes, expiration: int | None, metadata: str | None, now_ms: int) -> None:
        self.write(self.conn, key, value, expiration, metadata)
        self._after_write(now_ms)

    async def put_large(self, key: str, value: bytes, expiration: int | None, metadata: str | None,
                        now_ms: int) -> None:
        await self.off_loop(lambda conn: self.write(conn, key, value, expiration, metadata))
        self._after_write(now_ms)

    def put_many(self, entries: Iterable[tuple[str, bytes, int | None, str | None]], now_ms: int) -> int:
        """Several puts in one transaction (bulk writes of the CLI and the internal API)."""
        count = 0
        with self._transaction():
            for key, value, expiration, metadata in entries:
                self.write(self.conn, key, value, expiration, metadata)
                count += 1
        self._after_write(now_ms)
        return count

    def delete(self, key: str) -> None:
        self.conn.execute("DELETE FROM entries WHERE key = ?", (key,))
        self._wrote()

    def delete_many(self, keys: Iterable[str]) -> int:
        with self._transaction():
            deleted = sum(self.conn.execute("DELETE FROM entries WHERE key = ?", (k,)).rowcount for k in keys)
        self._wrote()
        return deleted

    def purge_expired(self, now_ms: int) -> int:
        deleted = self.conn.execute("DELETE FROM entries WHERE expiration IS NOT NULL AND expiration <= ?",
                                    (now_ms,)).rowcount
        if deleted:
            self._wrote()
        return int(deleted)

    def _after_write(self, now_ms: int) -> None:
        self._wrote()
        if self._writes % PURGE_EVERY == 0:
            self.purge_expired(now_ms)

    def _transaction(self) -> Transaction:
        return Transaction(self.conn, "BEGIN IMMEDIATE")

    # --- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._executor is not None:
            def close_thread_conn() -> None:
                if self._thread_conn is not None:
                    self._thread_conn.close()
            self._executor.submit(close_thread_conn).result()
            self._executor.shutdown(wait=True)
        self._checkpointer.close()
        self.conn.close()


def stored_namespace_id(path: Path) -> str | None:
    """The namespace id recorded in a KV file (None if it is not one of ours)."""
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM meta WHERE name = 'namespace_id'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


