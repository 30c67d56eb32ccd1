"""What every SQLite store of the state directory shares: cheap blob binding, WAL checkpoints.

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
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
from pathlib import Path


def bind_bytes_directly() -> None:
    """Bind ``bytes`` parameters without the adapter protocol's failed attribute lookups."""
    if (bytes, sqlite3.PrepareProtocol) not in sqlite3.adapters:
        sqlite3.register_adapter(bytes, bytes)


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
