"""One Durable Object's storage: its own SQLite file, as workerd keeps it locally.

``<state>/durable_objects/<namespace>/<id>.sqlite3`` holds the object's SQL tables (for
SQLite-backed classes) and ``_cf_KV(key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID``, the
key-value API's table (created on the first ``put``, as in workerd). One file per object
keeps objects apart exactly as production does (each its own database: ``deleteAll``,
``databaseSize``, user table names), costs nothing for objects not in use (a file is
opened when its object first touches storage and closed when the object is evicted), and
needs nothing loaded at start-up (docs/durable_objects.md, "Persistence").

**Write coalescing.** The first storage call of an object opens a transaction; it is
committed when the object's output is released (the event returns, a WebSocket message or
an RPC call leaves the object) or at the next turn of the event loop, whichever comes
first. So every write an event issues without awaiting anything in between is atomic, and
it is durable (WAL, ``synchronous=NORMAL``: it survives ``kill -9``) before anyone sees a
result that depends on it: the platform's output gate.

**Application SQL** goes through workerd's SQLite rules (the authorizer shared with D1:
no ``_cf_`` names, no ``ATTACH``, no ``BEGIN``, PRAGMAs and functions from a list) and its
limits (100 columns, 100 bound parameters, 100 KB of SQL, 2 MB strings and BLOBs, 50-byte
``LIKE`` patterns, 5 compound ``SELECT`` terms). The store's own statements run trusted;
their texts start with a space and application SQL is stripped, so the statement cache
never hands one to the other (see ``emulator.bindings.d1.authorizer``).
"""

from __future__ import annotations

import builtins
import sqlite3
from pathlib import Path
from collections.abc import Callable, Iterable

# workerd applies one set of SQLite rules to D1 and to Durable Object SQL (its `setupSecurity`).
from emulator.bindings.d1 import authorizer
from emulator.sqlite import bind_bytes_directly

KV_TABLE = "_cf_KV"
# The store's own statements; each starts with a space (see the module docstring).
_BEGIN = " BEGIN"
_COMMIT = " COMMIT"
_ROLLBACK = " ROLLBACK"
_KV_CREATE = " CREATE TABLE IF NOT EXISTS _cf_KV (key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID"
_KV_EXISTS = " SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_cf_KV'"
_KV_GET = " SELECT value FROM _cf_KV WHERE key = ?"
_KV_PUT = " INSERT OR REPLACE INTO _cf_KV (key, value) VALUES (?, ?)"
_KV_DELETE = " DELETE FROM _cf_KV WHERE key = ?"
_KV_COUNT = " SELECT count(*) FROM _cf_KV"
_PAGES = " SELECT (SELECT * FROM pragma_page_count) - (SELECT * FROM pragma_freelist_count)"
_PAGE_SIZE = " PRAGMA page_size"

# SQLite limits of application SQL (workerd's `setupSecurity`, docs/durable_objects.md).
LIMITS = (
    (sqlite3.SQLITE_LIMIT_LENGTH, 2 * 1024 * 1024),
    (sqlite3.SQLITE_LIMIT_SQL_LENGTH, 100_000),
    (sqlite3.SQLITE_LIMIT_COLUMN, 100),
    (sqlite3.SQLITE_LIMIT_COMPOUND_SELECT, 5),
    (sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 50),
    (sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 100),
)


def object_path(namespace_dir: Path, hex_id: str) -> Path:
    """An object's file (ids are 64 hex digits, checked by the caller: nothing escapes)."""
    return namespace_dir / f"{hex_id}.sqlite3"


def connect(path: Path) -> sqlite3.Connection:
    bind_bytes_directly()
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, cached_statements=512)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    for limit, value in LIMITS:
        conn.setlimit(limit, value)
    return conn


class ObjectStore:
    """One object's SQLite file and its implicit transaction."""

    __slots__ = ("path", "conn", "auth", "in_txn", "kv_ready", "savepoints", "_on_dirty", "__weakref__")

    def __init__(self, path: Path, on_dirty: Callable[[], None] | None = None) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None
        self.auth: authorizer.Authorizer | None = None
        self.in_txn = False
        self.kv_ready = False
        self.savepoints = 0
        # Called when a transaction opens: the owner arranges for it to be committed soon.
        self._on_dirty = on_dirty

    # --- connection and transaction ------------------------------------------------------------
    def open(self) -> sqlite3.Connection:
        if self.conn is None:
            conn = connect(self.path)
            self.auth = authorizer.install(conn)
            self.auth.trusted = True
            try:
                self.kv_ready = conn.execute(_KV_EXISTS).fetchone() is not None
            finally:
                self.auth.trusted = False
            self.conn = conn
        return self.conn

    def begin(self) -> sqlite3.Connection:
        """The connection, inside the implicit transaction (opened on first use)."""
        conn = self.conn or self.open()
        if not self.in_txn:
            self._trusted(conn, _BEGIN)
            self.in_txn = True
            if self._on_dirty is not None:
                self._on_dirty()
        return conn

    def _reader(self) -> sqlite3.Connection | None:
        """The connection for a read, or None when the object has no file yet (reading an
        object that never wrote creates nothing)."""
        if self.conn is None and not self.path.exists():
            return None
        return self.begin()

    def _trusted(self, conn: sqlite3.Connection, sql: str, params: tuple[object, ...] = ()) -> sqlite3.Cursor:
        auth = self.auth
        assert auth is not None
        auth.trusted = True
        try:
            return conn.execute(sql, params)
        finally:
            auth.trusted = False

    def commit(self) -> None:
        """Make every write so far durable (the output gate)."""
        if self.in_txn:
            assert self.conn is not None
            self.in_txn = False
            self.savepoints = 0
            self._trusted(self.conn, _COMMIT)

    def rollback(self) -> None:
        """Discard the writes since the last commit (the object is being reset)."""
        if self.in_txn and self.conn is not None:
            self.in_txn = False
            self.savepoints = 0
            try:
                self._trusted(self.conn, _ROLLBACK)
            except sqlite3.Error:
                pass  # SQLite may already have rolled back (a failed COMMIT)
            self.kv_ready = self._kv_exists()

    def _kv_exists(self) -> bool:
        assert self.conn is not None
        return self._trusted(self.conn, _KV_EXISTS).fetchone() is not None

    def savepoint(self, name: str) -> None:
        self._trusted(self.begin(), f" SAVEPOINT {name}")

    def release(self, name: str) -> None:
        assert self.conn is not None
        self._trusted(self.conn, f" RELEASE {name}")

    def rollback_to(self, name: str) -> None:
        assert self.conn is not None
        self._trusted(self.conn, f" ROLLBACK TO {name}")
        self._trusted(self.conn, f" RELEASE {name}")
        self.kv_ready = self._kv_exists()

    def close(self) -> None:
        """Commit what is pending and close the file (the object is evicted)."""
        if self.conn is not None:
            try:
                self.commit()
            finally:
                self.conn.close()
                self.conn = None
                self.auth = None

    # --- the key-value table (keys are validated by the caller) ---------------------------------
    def _kv_table(self, conn: sqlite3.Connection) -> None:
        if not self.kv_ready:
            self._trusted(conn, _KV_CREATE)
            self.kv_ready = True

    def get(self, key: str) -> bytes | None:
        # `begin()` and `_trusted()` inline: this is the read path of every `storage.get`.
        conn = self.conn
        if conn is None or not self.in_txn:
            conn = self._reader()
            if conn is None:
                return None
        if not self.kv_ready:
            return None
        auth = self.auth
        assert auth is not None
        auth.trusted = True
        try:
            row = conn.execute(_KV_GET, (key,)).fetchone()
        finally:
            auth.trusted = False
        return None if row is None else row[0]

    def get_many(self, keys: Iterable[str]) -> list[tuple[str, bytes]]:
        """The stored ones among ``keys``, sorted by key (UTF-8 byte order)."""
        conn = self._reader()
        if conn is None or not self.kv_ready:
            return []
        found = []
        for key in sorted(set(keys), key=_utf8):
            row = self._trusted(conn, _KV_GET, (key,)).fetchone()
            if row is not None:
                found.append((key, row[0]))
        return found

    def put(self, key: str, value: bytes) -> None:
        conn = self.conn
        if conn is None or not self.in_txn:
            conn = self.begin()
        if not self.kv_ready:
            self._kv_table(conn)
        auth = self.auth
        assert auth is not None
        auth.trusted = True
        try:
            conn.execute(_KV_PUT, (key, value))
        finally:
            auth.trusted = False

    def put_many(self, pairs: list[tuple[str, bytes]]) -> None:
        conn = self.begin()
        self._kv_table(conn)
        auth = self.auth
        assert auth is not None
        auth.trusted = True
        try:
            conn.executemany(_KV_PUT, pairs)
        finally:
            auth.trusted = False

    def delete(self, key: str) -> bool:
        conn = self._reader()
        if conn is None or not self.kv_ready:
            return False
        return bool(self._trusted(conn, _KV_DELETE, (key,)).rowcount)

    def delete_many(self, keys: Iterable[str]) -> int:
        conn = self._reader()
        if conn is None or not self.kv_ready:
            return 0
        return sum(self._trusted(conn, _KV_DELETE, (key,)).rowcount for key in set(keys))

    def list(self, start: str | None, end: str | None, reverse: bool, limit: int | None) -> list[tuple[str, bytes]]:
        """Keys in ``[start, end)`` in UTF-8 byte order (descending with ``reverse``)."""
        conn = self._reader()
        if conn is None or not self.kv_ready:
            return []
        clauses: builtins.list[str] = []
        params: builtins.list[str | int] = []
        if start is not None:
            clauses.append("key >= ?")
            params.append(start)
        if end is not None:
            clauses.append("key < ?")
            params.append(end)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f" SELECT key, value FROM _cf_KV{where} ORDER BY key {'DESC' if reverse else 'ASC'}"  # noqa: S608 - fixed clauses; values are parameters
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return list(self._trusted(conn, sql, tuple(params)).fetchall())

    def count(self) -> int:
        conn = self._reader()
        if conn is None or not self.kv_ready:
            return 0
        return int(self._trusted(conn, _KV_COUNT).fetchone()[0])

    def delete_all(self) -> None:
        """Wipe the object's whole database: SQL tables (and their indexes, triggers, views) and KV."""
        conn = self.begin()
        while True:
            rows = self._trusted(conn, " SELECT type, name, sql FROM sqlite_master WHERE type IN ('table', 'view') "
                                       "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'").fetchall()
            if not rows:
                break
            # Views first, then virtual tables (they own shadow tables), then the rest.
            rows.sort(key=lambda r: (r[0] != "view", not (r[2] or "").upper().startswith("CREATE VIRTUAL")))
            kind, name, _ = rows[0]
            quoted = '"' + name.replace('"', '""') + '"'
            self._trusted(conn, f" DROP {'VIEW' if kind == 'view' else 'TABLE'} IF EXISTS {quoted}")
        self.kv_ready = False

    # --- inspection --------------------------------------------------------------------------------
    def database_size(self) -> int:
        """``sql.databaseSize``: the pages in use times the page size."""
        conn = self.begin()
        pages = self._trusted(conn, _PAGES).fetchone()[0]
        return int(pages) * int(self._trusted(conn, _PAGE_SIZE).fetchone()[0])

    def tables(self) -> builtins.list[tuple[str, str | None]]:  # `list` is a method here
        """Application tables (name, SQL), for the inspection API."""
        conn = self.begin()
        return list(self._trusted(conn, " SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT "
                                        "LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' "
                                        "ORDER BY name").fetchall())

    def trusted_query(self, sql: str, params: tuple[object, ...] = ()) -> sqlite3.Cursor:
        """Run one of the inspection API's own statements (it must start with a space)."""
        if not sql.startswith(" "):
            raise ValueError("the store's own statements start with a space")
        return self._trusted(self.begin(), sql, params)


def _utf8(key: str) -> bytes:
    return key.encode("utf-8", "surrogatepass")
