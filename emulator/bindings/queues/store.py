"""The durable half of the queue broker: SQLite (WAL), group-committed on the event loop.

Durability rule: a ``send()`` that returned survives ``kill -9`` of the emulator. A WAL commit
hands its pages to the OS with ``write()`` before returning; after that a *process* crash
cannot lose them (the kernel's page cache still holds them and writes them back), only a
power loss or kernel crash can. So ``synchronous=NORMAL`` (no fsync per commit) gives exactly
the promised guarantee at a fraction of the cost of ``FULL``; power loss is out of scope.

Writes queue up during a loop tick and go out together in one transaction at its end (group
commit): a burst of 10,000 concurrent ``send()`` calls costs a handful of transactions.
Within one transaction rows are inserted, then updated, then deleted; that order is always
equivalent to the order in which the broker issued them, because a message is inserted once,
can only be updated while it exists, and is never touched after its delete.

The commit itself runs on the loop thread. Without an fsync it is a few hundred
microseconds of CPU for a group of hundreds of rows, cheaper than handing it to a thread:
a writer thread needs the GIL back after every SQLite call while the loop is busy
delivering batches, and waits up to the interpreter's switch interval (5 ms) each time, so
in practice the two serialised (measured: ~25% more throughput on the loop). The only
SQLite work that does fsync, the WAL checkpoint, runs on a thread of its own
(``emulator.sqlite``); opening (restoring every stored message) and closing run on a
worker thread too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from emulator.sqlite import WalCheckpointer, bind_bytes_directly

# The broker's file under <state>/queues/.
DB_FILENAME = "queues.sqlite3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq          INTEGER PRIMARY KEY,   -- enqueue order; never reused
    id           TEXT    NOT NULL,      -- 32 hex chars, kept when moved to a dead-letter queue
    queue        TEXT    NOT NULL,
    timestamp_ms INTEGER NOT NULL,      -- when the broker received it
    content_type TEXT    NOT NULL,
    body         BLOB    NOT NULL,
    attempts     INTEGER NOT NULL,      -- the attempt number of the next delivery (1-based)
    visible_at   REAL    NOT NULL       -- clock time (s) from which it may be delivered
);
CREATE TABLE IF NOT EXISTS queue_settings (
    queue           TEXT PRIMARY KEY,
    delivery_paused INTEGER NOT NULL DEFAULT 0  -- `queues pause-delivery`: kept across restarts
);
CREATE TABLE IF NOT EXISTS queue_totals (
    queue   TEXT PRIMARY KEY,
    acked   INTEGER NOT NULL DEFAULT 0,
    retried INTEGER NOT NULL DEFAULT 0,
    dropped INTEGER NOT NULL DEFAULT 0,
    dlq     INTEGER NOT NULL DEFAULT 0
);
"""

TOTAL_KEYS = ("acked", "retried", "dropped", "dlq")
CHECKPOINT_EVERY = 256  # commits between background WAL checkpoints

# (seq, id, queue, timestamp_ms, content_type, body, attempts, visible_at)
Row = tuple[int, str, str, int, str, bytes, int, float]
# (queue, attempts, visible_at, seq)
Update = tuple[str, int, float, int]


@dataclass
class _Job:
    inserts: list[Row] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    deletes: list[int] = field(default_factory=list)
    deleted_ids: list[str] = field(default_factory=list)  # acked ids, for commit listeners
    totals: dict[str, list[int]] = field(default_factory=dict)
    # Queues that received rows: remembered in queue_totals so an emptied queue stays listed.
    queues: set[str] = field(default_factory=set)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    insert_bytes: int = 0
    # Queues whose delivery was paused (True) or resumed (False).
    paused: dict[str, bool] = field(default_factory=dict)

    def empty(self) -> bool:
        return not (self.inserts or self.updates or self.deletes or self.totals or self.paused)


class MessageStore:
    """One SQLite file, one writer thread, writes batched per transaction."""

    def __init__(self, path: Path, on_error: Callable[[BaseException], None] | None = None) -> None:
        self.path = path
        # Told about a failed transaction (disk full, ...): sends waiting on it fail, but the
        # acks and retries in it are lost silently otherwise (they would be redelivered).
        self.on_error = on_error
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="queues-sqlite")
        self._checkpointer = WalCheckpointer(path, CHECKPOINT_EVERY, "queues-wal")
        self._conn: sqlite3.Connection | None = None
        self._job = _Job()
        self._committing = False
        self._idle_waiters: list[asyncio.Future[None]] = []
        self._commit_waiters: list[asyncio.Future[None]] = []
        self.commit_listeners: list[Callable[[list[str]], None]] = []
        self.commits = 0
        self.closed = False

    # --- lifecycle ----------------------------------------------------------------------
    async def open(self) -> tuple[list[Row], dict[str, dict[str, int]], int]:
        """Open (creating) the database; return stored rows, totals and the next seq."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._open_sync)

    def _open_sync(self) -> tuple[list[Row], dict[str, dict[str, int]], int]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        bind_bytes_directly()
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # see module docstring
        conn.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run off the loop
        conn.executescript(SCHEMA)
        self._conn = conn
        rows: list[Row] = conn.execute(
            "SELECT seq, id, queue, timestamp_ms, content_type, body, attempts, visible_at "
            "FROM messages ORDER BY visible_at, seq"
        ).fetchall()
        totals = {
            q: dict(zip(TOTAL_KEYS, vals))
            for q, *vals in conn.execute(f"SELECT queue, {', '.join(TOTAL_KEYS)} FROM queue_totals")
        }
        (max_seq,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM messages").fetchone()
        return rows, totals, int(max_seq) + 1

    async def paused_queues(self) -> set[str]:
        """Queues whose delivery is paused (read once, after ``open``)."""
        loop = asyncio.get_running_loop()

        def read() -> set[str]:
            assert self._conn is not None, "store used before open()"
            return {q for (q,) in self._conn.execute("SELECT queue FROM queue_settings WHERE delivery_paused")}

        return await loop.run_in_executor(self._executor, read)

    async def close(self) -> None:
        await self.flush()
        self.closed = True
        loop = asyncio.get_running_loop()
        await self._checkpointer.wait()
        self._checkpointer.close()
        if self._conn is not None:
            # The last connection to close checkpoints what is left (with an fsync).
            await loop.run_in_executor(self._executor, self._conn.close)
            self._conn = None
        self._executor.shutdown(wait=True)

    # --- writes (called on the loop) ----------------------------------------------------
    @property
    def pending(self) -> bool:
        return self._committing or not self._job.empty()

    @property
    def pending_insert_bytes(self) -> int:
        return self._job.insert_bytes

    @property
    def pending_insert_rows(self) -> int:
        return len(self._job.inserts)

    def next_commit(self) -> asyncio.Future[None]:
        """Resolves when the next transaction finishes (for producer backpressure)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._commit_waiters.append(fut)
        if not self._committing:
            self._kick()
        return fut

    def insert(self, rows: list[Row], size: int) -> asyncio.Future[None]:
        """Queue rows for insertion; the future resolves once they are committed."""
        job = self._job
        job.inserts.extend(rows)
        job.queues.update({row[2] for row in rows})
        job.insert_bytes += size
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        job.waiters.append(fut)
        self._kick()
        return fut

    def update(self, queue: str, attempts: int, visible_at: float, seq: int) -> None:
        self._job.updates.append((queue, attempts, visible_at, seq))
        self._job.queues.add(queue)
        self._kick()

    def delete(self, seq: int, message_id: str | None = None) -> None:
        self._job.deletes.append(seq)
        if message_id is not None:
            self._job.deleted_ids.append(message_id)
        self._kick()

    def delete_many(self, seqs: list[int], acked_ids: list[str]) -> None:
        """Delete rows; ``acked_ids`` are reported to commit listeners once on disk."""
        self._job.deletes.extend(seqs)
        self._job.deleted_ids.extend(acked_ids)
        self._kick()

    def set_paused(self, queue: str, paused: bool) -> asyncio.Future[None]:
        """Record a queue's paused delivery; the future resolves once it is committed."""
        job = self._job
        job.paused[queue] = paused
        job.queues.add(queue)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        job.waiters.append(fut)
        self._kick()
        return fut

    def count(self, queue: str, key: str, n: int = 1) -> None:
        totals = self._job.totals.get(queue)
        if totals is None:
            totals = self._job.totals[queue] = [0, 0, 0, 0]
        totals[TOTAL_KEYS.index(key)] += n
        self._kick()

    async def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        if not self.pending:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._idle_waiters.append(fut)
        await fut

    def _kick(self) -> None:
        if self._committing or self.closed:
            return
        self._committing = True
        # Defer to the end of this loop tick so every write issued in the same tick (all
        # the sends of a burst, all the acks of a batch) joins the same transaction.
        asyncio.get_running_loop().call_soon(self._submit)

    def _submit(self) -> None:
        job, self._job = self._job, _Job()
        error: Exception | None = None
        if not job.empty():
            try:
                self._write(job)
            except Exception as exc:  # disk full, a broken file, ...: reported, never raised here
                error = exc
                if self.on_error is not None:
                    self.on_error(exc)
            else:
                self._checkpointer.committed()
            self.commits += 1
        for fut in job.waiters:
            if fut.done():
                continue
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(None)
        if error is None and job.deleted_ids:
            for listener in list(self.commit_listeners):
                listener(job.deleted_ids)
        waiters, self._commit_waiters = self._commit_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)
        if self._job.empty():
            self._committing = False
            self._wake_idle()
        else:  # a commit listener wrote something: it goes out at the end of this tick
            asyncio.get_running_loop().call_soon(self._submit)

    def _wake_idle(self) -> None:
        waiters, self._idle_waiters = self._idle_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def _write(self, job: _Job) -> None:
        conn = self._conn
        assert conn is not None, "store used before open()"
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows = job.inserts
            for start in range(0, len(rows), _INSERT_CHUNK):
                chunk = rows[start:start + _INSERT_CHUNK]
                conn.execute(_insert_sql(len(chunk)), [v for row in chunk for v in row])
            if job.updates:
                conn.executemany(
                    "UPDATE messages SET queue = ?, attempts = ?, visible_at = ? WHERE seq = ?", job.updates
                )
            if job.deletes:
                conn.executemany("DELETE FROM messages WHERE seq BETWEEN ? AND ?", _runs(job.deletes))
            if job.queues:
                conn.executemany("INSERT OR IGNORE INTO queue_totals (queue) VALUES (?)",
                                 [(q,) for q in job.queues])
            if job.paused:
                conn.executemany(
                    "INSERT INTO queue_settings (queue, delivery_paused) VALUES (?, ?) "
                    "ON CONFLICT(queue) DO UPDATE SET delivery_paused = excluded.delivery_paused",
                    [(q, int(p)) for q, p in job.paused.items()],
                )
            if job.totals:
                conn.executemany(
                    "INSERT INTO queue_totals (queue, acked, retried, dropped, dlq) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT(queue) DO UPDATE SET acked = acked + excluded.acked, "
                    "retried = retried + excluded.retried, dropped = dropped + excluded.dropped, "
                    "dlq = dlq + excluded.dlq",
                    [(q, *vals) for q, vals in job.totals.items()],
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


# Rows per INSERT statement: one multi-row statement per few hundred rows costs a fraction
# of one execute per row (per-call overhead in the sqlite3 module and in SQLite's VM).
# 256 rows x 8 columns stays far below SQLite's 32766 bound-variable limit.
_INSERT_CHUNK = 256
_ROW_SQL = "(?, ?, ?, ?, ?, ?, ?, ?)"
_insert_sql_cache: dict[int, str] = {}


def _insert_sql(rows: int) -> str:
    sql = _insert_sql_cache.get(rows)
    if sql is None:
        sql = _insert_sql_cache[rows] = "INSERT INTO messages VALUES " + ", ".join([_ROW_SQL] * rows)
    return sql


def _runs(seqs: list[int]) -> list[tuple[int, int]]:
    """Consecutive seqs as (first, last) ranges: a batch of acks is usually one range."""
    ordered = sorted(seqs)
    out: list[tuple[int, int]] = []
    start = prev = ordered[0]
    for seq in ordered[1:]:
        if seq != prev + 1:
            out.append((start, prev))
            start = seq
        prev = seq
    out.append((start, prev))
    return out
