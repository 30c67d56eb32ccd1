"""What every SQLite store of the state directory shares: cheap blob binding, WAL checkpoints,
transactions, prefix ranges of text keys.

**Binding ``bytes``.** The ``sqlite3`` module binds ``int``/``float``/``str``/``bytearray``
parameters directly but sends ``bytes`` through its adapter protocol, which looks up a
``__conform__`` attribute on the value and formats (then discards) an ``AttributeError``
every time: about 1 µs per blob parameter, as much as the rest of a queue message's insert.
``bind_bytes_directly()``, called by every store before it opens a connection, registers the
identity adapter for ``bytes`` (unless the process already registered one), which makes that
a dictionary hit. It changes nothing else: the value bound is the same object,
and ``sqlite3`` keeps its fast path for the base types (registering ``bytes`` does not mark
them as adapted).

**WAL checkpoints.** The stores open their files in WAL mode with ``synchronous=NORMAL``: a ``COMMIT`` hands its
pages to the OS with ``write()`` and returns, so it survives ``kill -9`` of the emulator (only
power loss, out of scope, could drop it) and costs no ``fsync``. The one SQLite operation that
does ``fsync`` is the checkpoint (copying the WAL back into the database file). SQLite's
automatic checkpoint runs it inside whichever commit crosses 1000 WAL pages, on the caller's
thread — for the stores that commit on the event loop, a stall of every app.

So each store turns the automatic checkpoint off (``PRAGMA wal_autocheckpoint=0``) and calls
``committed()`` after each commit; every ``every`` commits a ``PASSIVE`` checkpoint (which never
blocks writers) runs on a thread of its own, on a second connection. A busy or failed
checkpoint is simply retried ``every`` commits later, and the last connection to close
checkpoints whatever is left.

**Database size.** D1 reports the file's size after every write (``meta.size_after``). The
public way to ask, ``PRAGMA page_count``, costs as much as the write itself: SQLite marks
every PRAGMA statement run-once, so it is compiled again on each call. In WAL mode the
answer is also in the WAL-index header that SQLite keeps in ``<db>-shm`` (its ``nPage``
field, "the size of the database in pages", documented in https://sqlite.org/walformat.html
§2.1), which every connection updates as it commits. ``WalIndex`` maps that header
read-only and reads it for a sixth of the PRAGMA's cost. SQLite keeps the header twice and
rewrites the second copy first; a read counts only when both copies carry the same commit
counter and page count. Whenever the header cannot answer (no commit since the WAL was
opened, a commit rewriting it, no ``-shm`` file), ``page_count()`` returns ``None`` and
callers ask SQLite. Leaving WAL mode would stop the header's updates, so the D1 engine
refuses ``PRAGMA journal_mode``/``locking_mode`` changes (as D1 does).

The ``-shm`` file carries SQLite's POSIX locks, and POSIX drops *all* of a process's locks
on a file when *any* descriptor of it is closed. So the mapping and its descriptor stay
open until the last ``WalIndex`` of that file in the process is closed, which its owner
does only after closing its own connections.

**Prefix ranges.** KV and Durable Object storage list keys in UTF-8 byte order
(docs/kv.md, docs/durable_objects.md), which is how SQLite's default ``BINARY`` collation
compares ``TEXT``; a ``prefix`` becomes the index range ``key >= prefix AND key <
prefix_upper_bound(prefix)``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import mmap
import os
import sqlite3
import struct
import threading
from pathlib import Path
from typing import Any, ClassVar


def bind_bytes_directly() -> None:
    """Bind ``bytes`` parameters without the adapter protocol's failed attribute lookups."""
    if (bytes, sqlite3.PrepareProtocol) not in sqlite3.adapters:
        sqlite3.register_adapter(bytes, bytes)


class Transaction:
    """``with Transaction(conn):`` runs the block between ``begin`` and ``COMMIT``; when the
    block (or the commit) raises, it rolls back, so a failed write changes nothing."""

    __slots__ = ("conn", "begin")

    def __init__(self, conn: sqlite3.Connection, begin: str = "BEGIN") -> None:
        self.conn = conn
        self.begin = begin

    def __enter__(self) -> None:
        self.conn.execute(self.begin)

    def __exit__(self, exc_type: type[BaseException] | None, *_: Any) -> None:
        try:
            if exc_type is None:
                self.conn.execute("COMMIT")
                return
        except BaseException:
            self._rollback()
            raise
        self._rollback()

    def _rollback(self) -> None:
        if self.conn.in_transaction:  # a failed COMMIT may have ended it already
            self.conn.execute("ROLLBACK")


def prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (None: no bound).

    UTF-8 byte order is code point order, so the bound is ``prefix`` with its last code
    point incremented (dropping trailing U+10FFFF, which cannot be incremented).
    """
    chars = prefix
    while chars and ord(chars[-1]) == 0x10FFFF:
        chars = chars[:-1]
    if not chars:
        return None
    last = ord(chars[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:  # surrogates are not valid UTF-8: skip past them
        last = 0xE000
    return chars[:-1] + chr(last)


class WalCheckpointer:
    """Background ``PASSIVE`` checkpoints of one SQLite file."""

    def __init__(self, path: Path, every: int, thread_name: str) -> None:
        self.path = Path(path)
        self.every = every
        self.checkpoints = 0
        self._thread_name = thread_name
        self._commits = 0
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending: concurrent.futures.Future[None] | None = None
        self._conn: sqlite3.Connection | None = None

    def committed(self) -> None:
        """Count one commit; start a checkpoint when ``every`` have passed and none is running."""
        self._commits += 1
        if self._commits < self.every or (self._pending is not None and not self._pending.done()):
            return
        self._commits = 0
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=self._thread_name)
        self._pending = self._executor.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self.checkpoints += 1
        except sqlite3.Error:
            pass  # retried after the next `every` commits; never fatal

    async def wait(self) -> None:
        """Let a running checkpoint finish without blocking the event loop."""
        pending = self._pending
        if pending is not None and not pending.done():
            await asyncio.wait([asyncio.wrap_future(pending)])

    def close(self) -> None:
        """Wait for a running checkpoint, then drop the thread and the connection."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# From both copies of the WAL-index header (48 bytes each, native byte order): iChange (a
# counter every commit bumps, offset 8) and nPage (offset 20).
_WAL_INDEX_FIELDS = struct.Struct("=8xI8xI24x8xI8xI")
_WAL_INDEX_SIZE = 96


class WalIndex:
    """The size of a WAL-mode database, read from its WAL-index header (see the module doc)."""

    # Per -shm file, for the whole process: [descriptor, mapping, users].
    _shared: ClassVar[dict[str, list[Any]]] = {}
    _shared_lock = threading.Lock()

    def __init__(self, db_path: Path) -> None:
        self._key = os.path.realpath(f"{db_path}-shm")
        self._map: mmap.mmap | None = None
        self._entry: list[Any] | None = None  # its _shared entry

    def page_count(self) -> int | None:
        """The database size in pages after the last commit, or ``None`` if the header does
        not tell (then ask SQLite)."""
        m = self._map
        if m is None:
            m = self._open()
            if m is None:
                return None
        # Copy 0 is read before copy 1, the reverse of the order SQLite writes them in:
        # when both carry the same commit counter, they come from the same commit (SQLite's
        # readers compare the whole copies; these two fields are the ones that matter here).
        change0, pages0, change1, pages1 = _WAL_INDEX_FIELDS.unpack_from(m)
        if pages0 and change0 == change1 and pages0 == pages1:
            return int(pages0)
        return None  # no commit since the WAL was opened, or a commit writing the header

    def _open(self) -> mmap.mmap | None:
        with WalIndex._shared_lock:
            # stat() first: a descriptor, once opened, must stay open (see the module doc),
            # so none is opened before the file is there and initialised.
            try:
                st = os.stat(self._key)
            except OSError:
                return None  # not created yet (or not in WAL mode): SQLite answers
            if st.st_size < _WAL_INDEX_SIZE:
                return None
            entry = WalIndex._shared.get(self._key)
            if entry is not None and not os.path.samestat(st, os.fstat(entry[0])):
                # A user that never closed its WalIndex kept the mapping of a -shm file that
                # SQLite has since deleted and made anew: it must not be read any more.
                del WalIndex._shared[self._key]
                entry = None
            if entry is None:
                try:
                    fd = os.open(self._key, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
                except OSError:
                    return None
                try:
                    mapping: mmap.mmap | None = mmap.mmap(fd, _WAL_INDEX_SIZE,
                                                          access=mmap.ACCESS_READ)
                except (OSError, ValueError):
                    mapping = None  # kept as "cannot map"; the descriptor stays open
                entry = WalIndex._shared[self._key] = [fd, mapping, 0]
            if entry[1] is None:
                return None
            entry[2] += 1
            self._entry = entry
            self._map = entry[1]
            return self._map

    def close(self) -> None:
        """Release the mapping; the last user in the process closes it (after the caller
        has closed its own connections to the database)."""
        entry, self._entry, self._map = self._entry, None, None
        if entry is None:
            return
        with WalIndex._shared_lock:
            entry[2] -= 1
            if entry[2] == 0:
                if WalIndex._shared.get(self._key) is entry:
                    del WalIndex._shared[self._key]
                entry[1].close()
                os.close(entry[0])
