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
can only be updated while it exists, and is never touched after its delete. Reads (the
broker pages messages in from here, docs/queues.md) first commit whatever is queued, so they
always see every write issued before them.

The commit itself runs on the loop thread. Without an fsync it is a few hundred
microseconds of CPU for a group of hundreds of rows, cheaper than handing it to a thread:
a writer thread needs the GIL back after every SQLite call while the loop is busy
delivering batches, and waits up to the interpreter's switch interval (5 ms) each time, so
in practice the two serialised (measured: ~25% more throughput on the loop). The only
SQLite work that does fsync, the WAL checkpoint, runs on a thread of its own
(``emulator.sqlite``); opening and closing run on a worker thread too. Reads are small (a
page of rows, by row id or through an index) and run on the loop like the commits.

**Layout.** ``seq`` is a message's number from one counter for the whole file. The messages
a queue received in order, undelayed, sit in a table of that queue (``arrivals_<number>``)
that has no index: read back by seq they come in their delivery order, (``visible_at``,
``seq``). The others (delayed, retried, moved to a dead-letter queue, redriven) sit in
``deferred`` with their ``ord`` and ``size``, read through an index on ``(queue,
visible_at, ord, size)`` that also answers counts and byte totals without touching the rows.
Why not one table: an index on the hot path costs about 5% of the broker's work per message,
and even a partial one makes every delete read its row first (2%), measured with callgrind;
one table for all queues without an index would mean scanning other queues' rows.
``queue_totals`` keeps, per queue, its number, the delivery totals and the exact count and
bytes of its stored messages, all updated in the same transactions as the rows.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Sequence

from emulator.sqlite import Transaction, WalCheckpointer, bind_bytes_directly

# The broker's file under <state>/queues/.
DB_FILENAME = "queues.sqlite3"

SCHEMA_VERSION = 2  # 2: queue_settings (paused delivery); every statement of SCHEMA is idempotent

SCHEMA = """
CREATE TABLE IF NOT EXISTS deferred (
    seq          INTEGER PRIMARY KEY,   -- the message's number (enqueue order, never reused)
    id           TEXT    NOT NULL,      -- 32 hex chars, kept when moved to a dead-letter queue
    queue        TEXT    NOT NULL,
    timestamp_ms INTEGER NOT NULL,      -- when the broker received it
    content_type TEXT    NOT NULL,
    body         BLOB    NOT NULL,
    attempts     INTEGER NOT NULL,      -- the attempt number of the next delivery (1-based)
    visible_at   REAL    NOT NULL,      -- clock time (s) from which it may be delivered
    ord          INTEGER NOT NULL,      -- order among equal visible_at (see the broker)
    size         INTEGER NOT NULL       -- length(body)
);
CREATE INDEX IF NOT EXISTS deferred_order ON deferred(queue, visible_at, ord, size);
CREATE TABLE IF NOT EXISTS queue_settings (
    queue           TEXT PRIMARY KEY,
    delivery_paused INTEGER NOT NULL DEFAULT 0  -- `queues pause-delivery`: kept across restarts
);
CREATE TABLE IF NOT EXISTS queue_totals (
    queue    TEXT PRIMARY KEY,
    acked    INTEGER NOT NULL DEFAULT 0,
    retried  INTEGER NOT NULL DEFAULT 0,
    dropped  INTEGER NOT NULL DEFAULT 0,
    dlq      INTEGER NOT NULL DEFAULT 0,
    no       INTEGER,                   -- the queue's number: its table is arrivals_<no>
    messages INTEGER NOT NULL DEFAULT 0,
    bytes    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
)
"""

# The same columns as `deferred` up to visible_at (so a row moves with INSERT ... SELECT).
ARRIVALS = """
CREATE TABLE IF NOT EXISTS arrivals_{no} (
    seq          INTEGER PRIMARY KEY,
    id           TEXT    NOT NULL,
    queue        TEXT    NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    content_type TEXT    NOT NULL,
    body         BLOB    NOT NULL,
    attempts     INTEGER NOT NULL,
    visible_at   REAL    NOT NULL
)
"""

TOTAL_KEYS = ("acked", "retried", "dropped", "dlq")
# What each transaction adds up per queue: the totals, then the stored messages' count and bytes.
_COUNTER_KEYS = (*TOTAL_KEYS, "messages", "bytes")
CHECKPOINT_EVERY = 256  # commits between background WAL checkpoints

# (seq, id, queue, timestamp_ms, content_type, body, attempts, visible_at): a row in arrival
# order; a deferred row adds (ord, size).
Row = tuple[int, str, str, int, str, bytes, int, float] | tuple[int, str, str, int, str, bytes, int, float, int, int]
# What reads return: (seq, id, timestamp_ms, content_type, body, attempts, visible_at, ord,
# deferred: 0 or 1); ord is the order key's second half (the seq for a row in arrival order).
Stored = tuple[int, str, int, str, bytes, int, float, int, int]
# (seq, queue, attempts, visible_at, ord, the queue whose arrivals hold the row or None)
Update = tuple[int, str, int, float, int, "str | None"]
Key = tuple[float, int]  # (visible_at, ord): a queue's delivery order
FIRST: Key = (float("-inf"), -1)  # before every message

_READ = "seq, id, timestamp_ms, content_type, body, attempts, visible_at"


@dataclass
class QueueInfo:
    """What ``open()`` knows about a queue without reading its messages."""

    totals: dict[str, int]
    messages: int = 0
    bytes: int = 0
    # Deferred rows not visible yet at the time given to open(): count, bytes, earliest.
    future: int = 0
    future_bytes: int = 0
    next_future: float | None = None
    plain_last: float | None = None  # visible_at of the newest row in arrival order
    head: tuple[Key, int] | None = None  # (key, timestamp_ms) of the first message in order


@dataclass
class OpenState:
    queues: dict[str, QueueInfo]
    next_seq: int
    paused: set[str] = field(default_factory=set)  # queues whose delivery is paused


@dataclass
class _Job:
    inserts: dict[str, list[Row]] = field(default_factory=dict)  # per queue, in arrival order
    deferred_inserts: list[Row] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    deletes: dict[str, list[int]] = field(default_factory=dict)  # per queue, of its arrivals
    deferred_deletes: list[int] = field(default_factory=list)
    deleted_ids: list[str] = field(default_factory=list)  # acked ids, for commit listeners
    # Per queue: the _COUNTER_KEYS deltas; a queue that appears here gets its queue_totals
    # row, so an emptied queue stays listed.
    totals: dict[str, list[int]] = field(default_factory=dict)
    on_commit: list[Callable[[], None]] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    insert_rows: int = 0
    insert_bytes: int = 0
    max_seq: int = 0  # the highest number taken for an ord (the rows' seqs speak for themselves)
    # Queues whose delivery was paused (True) or resumed (False).
    paused: dict[str, bool] = field(default_factory=dict)

    def empty(self) -> bool:
        return not (self.inserts or self.deferred_inserts or self.updates or self.deletes or self.deferred_deletes
                    or self.totals or self.paused)


class MessageStore:
    """One SQLite file; writes batched per transaction on the loop, reads on demand."""

    def __init__(self, path: Path, on_error: Callable[[BaseException], object] | None = None) -> None:
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
        self._numbers: dict[str, int] = {}  # queue -> its number
        self._tables: set[str] = set()  # queues whose arrivals table exists
        self.commit_listeners: list[Callable[[list[str]], None]] = []
        self.commits = 0
        self.rows_read = 0  # rows fetched by reads since open (tests prove what is not read)
        self.closed = False

    # --- lifecycle ----------------------------------------------------------------------
    async def open(self, now: float) -> OpenState:
        """Open (creating or upgrading) the file; read per-queue figures, never the messages.

        ``now`` splits deferred rows into visible and not yet visible.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._open_sync, now)

    def _open_sync(self, now: float) -> OpenState:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        bind_bytes_directly()
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # see module docstring
        conn.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run off the loop
        self._conn = conn
        if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            _upgrade(conn)
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        queues: dict[str, QueueInfo] = {}
        for name, no, messages, size, *totals in conn.execute(
                f"SELECT queue, no, messages, bytes, {', '.join(TOTAL_KEYS)} FROM queue_totals"):  # noqa: S608 - column names are constants
            queues[name] = QueueInfo(dict(zip(TOTAL_KEYS, totals, strict=True)), messages, size)
            self._numbers[name] = no
            if f"arrivals_{no}" in tables:
                self._tables.add(name)
        for name, info in queues.items():
            if info.messages:
                self._describe(name, info, now)
        # Past every number in use: the rows' seqs (the last row of each table, by row id) and
        # the numbers taken for an ord, stored in `meta` when they were taken.
        last = [conn.execute(f"SELECT MAX(seq) FROM {t}").fetchone()[0] for t in tables  # noqa: S608 - our own table names
                if t == "deferred" or t.startswith("arrivals_")]
        row = conn.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()
        paused = {q for (q,) in conn.execute("SELECT queue FROM queue_settings WHERE delivery_paused")}
        return OpenState(queues, max([row[0] if row else 1] + [n + 1 for n in last if n is not None]), paused)

    def _describe(self, name: str, info: QueueInfo, now: float) -> None:
        """Fill in ``info`` from the deferred index and the newest row of the queue's arrivals."""
        conn = self._conn
        assert conn is not None
        if name in self._tables:
            table = self._table(name)
            last_sql = f"SELECT visible_at FROM {table} ORDER BY seq DESC LIMIT 1"  # noqa: S608 - _table() names are arrivals_<n>
            plain_last = conn.execute(last_sql).fetchone()
            if plain_last is not None and plain_last[0] > now:
                # The clock went back since these rows were written: rows in arrival order
                # must not be visible before their time, so they are reordered like delayed ones.
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(f"INSERT INTO deferred SELECT *, seq, length(body) FROM {table} WHERE visible_at > ?",  # noqa: S608 - _table() names are arrivals_<n>
                             (now,))
                conn.execute(f"DELETE FROM {table} WHERE visible_at > ?", (now,))  # noqa: S608 - _table() names are arrivals_<n>
                conn.execute("COMMIT")
                plain_last = conn.execute(last_sql).fetchone()
            info.plain_last = plain_last[0] if plain_last is not None else None
        count, size, first = conn.execute(
            "SELECT COUNT(*), TOTAL(size), MIN(visible_at) FROM deferred WHERE queue = ? AND visible_at > ?",
            (name, now)).fetchone()
        info.future, info.future_bytes, info.next_future = count, int(size), first
        heads = self.fetch_plain(name, 0, 1) + self.fetch_deferred(name, FIRST, 1)
        if heads:
            first_row = min(heads, key=lambda r: (r[6], r[7]))
            info.head = ((first_row[6], first_row[7]), first_row[2])

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

    def _table(self, queue: str) -> str:
        """The name of a queue's arrivals table (its number is assigned on first use and
        stored with its first write)."""
        no = self._numbers.get(queue)
        if no is None:
            no = self._numbers[queue] = max(self._numbers.values(), default=0) + 1
        return f"arrivals_{no}"

    # --- writes (called on the loop) ----------------------------------------------------
    @property
    def pending(self) -> bool:
        return self._committing or not self._job.empty()

    @property
    def pending_insert_bytes(self) -> int:
        return self._job.insert_bytes

    @property
    def pending_insert_rows(self) -> int:
        return self._job.insert_rows

    def next_commit(self) -> asyncio.Future[None]:
        """Resolves when the next transaction finishes (for producer backpressure)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._commit_waiters.append(fut)
        if not self._committing:
            self._kick()
        return fut

    def insert(self, queue: str, rows: list[Row], size: int, on_commit: Callable[[], None] | None = None,
               deferred: Sequence[Row] = ()) -> asyncio.Future[None]:
        """Queue a queue's new rows for insertion, in seq order: ``rows`` in arrival order,
        ``deferred`` ones with their (ord, size); ``size`` is their bodies' bytes. The future
        resolves once they are committed.

        ``on_commit`` runs right after the transaction commits, before any other code can
        read the file: the broker places the new messages there, so what it holds in memory
        and what a read returns never overlap.
        """
        job = self._job
        if rows:
            job.inserts.setdefault(queue, []).extend(rows)
        if deferred:
            job.deferred_inserts.extend(deferred)
        counters = job.totals.get(queue)
        if counters is None:
            counters = job.totals[queue] = [0, 0, 0, 0, 0, 0]
        counters[4] += len(rows) + len(deferred)
        counters[5] += size
        job.insert_rows += len(rows) + len(deferred)
        job.insert_bytes += size
        if on_commit is not None:
            job.on_commit.append(on_commit)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        job.waiters.append(fut)
        self._kick()
        return fut

    def set_paused(self, queue: str, paused: bool) -> asyncio.Future[None]:
        """Record a queue's paused delivery; the future resolves once it is committed."""
        job = self._job
        job.paused[queue] = paused
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        job.waiters.append(fut)
        self._kick()
        return fut

    def update(self, seq: int, queue: str, attempts: int, visible_at: float, ord: int,
               arrived_in: str | None = None) -> None:
        """Re-schedule a message (retry, dead-lettering, redrive): its row ends in ``deferred``,
        moved there from the arrivals of queue ``arrived_in`` if it is still one of them. A
        move to another queue is counted by the caller."""
        self._job.updates.append((seq, queue, attempts, visible_at, ord, arrived_in))
        self._job.max_seq = max(self._job.max_seq, ord)  # a new number, which no row's seq shows
        self._kick()

    def delete(self, seq: int, arrived_in: str | None) -> None:
        """Delete a row: one of the arrivals of queue ``arrived_in``, or deferred (None)."""
        if arrived_in is None:
            self._job.deferred_deletes.append(seq)
        else:
            self._job.deletes.setdefault(arrived_in, []).append(seq)
        self._kick()

    def delete_many(self, queue: str, seqs: list[int], deferred_seqs: list[int], acked_ids: list[str]) -> None:
        """Delete rows (arrivals of ``queue``, deferred ones); ``acked_ids`` are reported to
        commit listeners once on disk."""
        if seqs:
            self._job.deletes.setdefault(queue, []).extend(seqs)
        self._job.deferred_deletes.extend(deferred_seqs)
        self._job.deleted_ids.extend(acked_ids)
        self._kick()

    def count(self, queue: str, key: str, n: int = 1) -> None:
        """Add to a total (``acked``...) or to the stored ``messages``/``bytes`` of a queue."""
        totals = self._job.totals.get(queue)
        if totals is None:
            totals = self._job.totals[queue] = [0, 0, 0, 0, 0, 0]
        totals[_COUNTER_KEYS.index(key)] += n
        self._kick()

    async def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        if not self.pending:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._idle_waiters.append(fut)
        await fut

    def write_now(self) -> None:
        """Commit what is queued at once (before a read, which must see it)."""
        if self._job.empty() or self._conn is None:
            return
        job, self._job = self._job, _Job()
        self._finish(job)
        # A commit already scheduled for this tick (_committing) finds an empty job and
        # resolves the idle waiters then.

    def _kick(self) -> None:
        if self._committing or self.closed:
            return
        self._committing = True
        # Defer to the end of this loop tick so every write issued in the same tick (all
        # the sends of a burst, all the acks of a batch) joins the same transaction.
        asyncio.get_running_loop().call_soon(self._submit)

    def _submit(self) -> None:
        job, self._job = self._job, _Job()
        self._finish(job)
        waiters, self._commit_waiters = self._commit_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)
        if self._job.empty():
            self._committing = False
            self._wake_idle()
        else:  # a commit listener wrote something: it goes out at the end of this tick
            asyncio.get_running_loop().call_soon(self._submit)

    def _finish(self, job: _Job) -> None:
        error: Exception | None = None
        if not job.empty():
            try:
                self._write(job)
            except Exception as exc:  # noqa: BLE001 - disk full, a broken file, ...: reported, never raised here
                error = exc
                if self.on_error is not None:
                    self.on_error(exc)
            else:
                self._checkpointer.committed()
            self.commits += 1
        if error is None:
            for placed in job.on_commit:
                try:
                    placed()
                except Exception as exc:  # noqa: BLE001 - a bug in the caller must not stop the commits
                    if self.on_error is not None:
                        self.on_error(exc)
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

    def _wake_idle(self) -> None:
        waiters, self._idle_waiters = self._idle_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def _write(self, job: _Job) -> None:
        conn = self._conn
        assert conn is not None, "store used before open()"
        created: list[str] = []
        with Transaction(conn, "BEGIN IMMEDIATE"):
            for queue, rows in job.inserts.items():
                table = self._table(queue)
                if queue not in self._tables:
                    conn.execute(ARRIVALS.format(no=self._numbers[queue]))
                    created.append(queue)
                _insert(conn, table, rows, 8)
            if job.deferred_inserts:
                _insert(conn, "deferred", job.deferred_inserts, 10)
            if job.updates:
                self._apply_updates(conn, job.updates)
            for queue, seqs in job.deletes.items():
                conn.executemany(f"DELETE FROM {self._table(queue)} WHERE seq BETWEEN ? AND ?", _runs(seqs))  # noqa: S608 - _table() names are arrivals_<n>
            if job.deferred_deletes:
                conn.executemany("DELETE FROM deferred WHERE seq BETWEEN ? AND ?", _runs(job.deferred_deletes))
            if job.totals:
                for queue in job.totals:
                    self._table(queue)  # a number for every queue that gets a row
                numbers = self._numbers
                conn.executemany(_TOTALS_SQL, [(q, numbers[q], *vals) for q, vals in job.totals.items()])
            if job.paused:
                conn.executemany(
                    "INSERT INTO queue_settings (queue, delivery_paused) VALUES (?, ?) "
                    "ON CONFLICT(queue) DO UPDATE SET delivery_paused = excluded.delivery_paused",
                    [(q, int(p)) for q, p in job.paused.items()],
                )
            if job.max_seq:
                conn.execute("INSERT INTO meta (key, value) VALUES ('next_seq', ?) "
                             "ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)", (job.max_seq + 1,))
        self._tables.update(created)

    def _apply_updates(self, conn: sqlite3.Connection, updates: list[Update]) -> None:
        """In issue order, in runs of one statement: a row still among its queue's arrivals
        moves to ``deferred``; a deferred row is updated in place."""
        start = 0
        while start < len(updates):
            source = updates[start][5]
            end = start + 1
            while end < len(updates) and updates[end][5] == source:
                end += 1
            run = updates[start:end]
            if source is None:
                conn.executemany("UPDATE deferred SET queue = ?, attempts = ?, visible_at = ?, ord = ? WHERE seq = ?",
                                 [(u[1], u[2], u[3], u[4], u[0]) for u in run])
            else:
                table = self._table(source)
                conn.executemany(f"INSERT INTO deferred SELECT seq, id, ?, timestamp_ms, content_type, body, ?, ?, ?, "  # noqa: S608 - _table() names are arrivals_<n>
                                 f"length(body) FROM {table} WHERE seq = ?", [u[1:5] + (u[0],) for u in run])
                conn.executemany(f"DELETE FROM {table} WHERE seq = ?", [(u[0],) for u in run])  # noqa: S608 - _table() names are arrivals_<n>
            start = end

    # --- reads (called on the loop; each first commits what is queued) ------------------
    def fetch_plain(self, queue: str, after: int, limit: int) -> list[Stored]:
        """Up to ``limit`` of a queue's rows in arrival order with ``seq > after``, by seq."""
        self.write_now()
        if queue not in self._tables:
            return []
        assert self._conn is not None
        rows = self._conn.execute(f"SELECT {_READ}, seq, 0 FROM {self._table(queue)} WHERE seq > ? "  # noqa: S608 - _table() names are arrivals_<n>
                                  "ORDER BY seq LIMIT ?", (after, limit)).fetchall()
        self.rows_read += len(rows)
        return rows

    def fetch_deferred(self, queue: str, after: Key, limit: int) -> list[Stored]:
        """Up to ``limit`` deferred rows of a queue after ``after`` in (visible_at, ord) order."""
        self.write_now()
        assert self._conn is not None
        rows = self._conn.execute(f"SELECT {_READ}, ord, 1 FROM deferred "  # noqa: S608 - _READ is a constant column list
                                  "WHERE queue = ? AND (visible_at, ord) > (?, ?) ORDER BY visible_at, ord LIMIT ?",
                                  (queue, after[0], after[1], limit)).fetchall()
        self.rows_read += len(rows)
        return rows

    def count_deferred(self, queue: str, after: Key, since: float, until: float) -> tuple[int, int]:
        """Count and bytes of deferred rows after ``after`` with ``since < visible_at <= until``."""
        self.write_now()
        assert self._conn is not None
        count, size = self._conn.execute(
            "SELECT COUNT(*), TOTAL(size) FROM deferred WHERE queue = ? "
            "AND (visible_at, ord) > (?, ?) AND visible_at > ? AND visible_at <= ?",
            (queue, after[0], after[1], since, until)).fetchone()
        return count, int(size)

    def next_deferred(self, queue: str, after: Key, since: float) -> float | None:
        """The earliest ``visible_at > since`` among deferred rows after ``after``."""
        self.write_now()
        assert self._conn is not None
        row: tuple[float | None] = self._conn.execute(
            "SELECT MIN(visible_at) FROM deferred WHERE queue = ? AND (visible_at, ord) > (?, ?) AND visible_at > ?",
            (queue, after[0], after[1], since)).fetchone()
        return row[0]

    def find(self, queue: str, message_id: str) -> Stored | None:
        """A row of a queue by message id (a scan of that queue's rows)."""
        self.write_now()
        assert self._conn is not None
        row: Stored | None
        if queue in self._tables:
            row = self._conn.execute(f"SELECT {_READ}, seq, 0 FROM {self._table(queue)} WHERE id = ?",  # noqa: S608 - _table() names are arrivals_<n>
                                     (message_id,)).fetchone()
            if row is not None:
                return row
        row = self._conn.execute(f"SELECT {_READ}, ord, 1 FROM deferred WHERE queue = ? AND id = ?",  # noqa: S608 - _READ is a constant column list
                                 (queue, message_id)).fetchone()
        return row

    def purge(self, queue: str) -> None:
        """Delete every row of a queue now, in a transaction of its own."""
        self.write_now()
        conn = self._conn
        assert conn is not None
        table = self._table(queue)
        with Transaction(conn, "BEGIN IMMEDIATE"):
            if queue in self._tables:
                conn.execute(f"DELETE FROM {table}")  # noqa: S608 - _table() names are arrivals_<n>
            conn.execute("DELETE FROM deferred WHERE queue = ?", (queue,))
            conn.execute(_TOTALS_SQL, (queue, self._numbers[queue], 0, 0, 0, 0, 0, 0))
            conn.execute("UPDATE queue_totals SET messages = 0, bytes = 0 WHERE queue = ?", (queue,))
        self._checkpointer.committed()
        self.commits += 1


_TOTALS_SQL = (
    "INSERT INTO queue_totals (queue, no, acked, retried, dropped, dlq, messages, bytes) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT(queue) DO UPDATE SET no = excluded.no, acked = acked + excluded.acked, "
    "retried = retried + excluded.retried, dropped = dropped + excluded.dropped, dlq = dlq + excluded.dlq, "
    "messages = messages + excluded.messages, bytes = bytes + excluded.bytes"
)


def _upgrade(conn: sqlite3.Connection) -> None:
    """Bring a file to SCHEMA_VERSION in one transaction. The first version kept every
    message in one ``messages`` table and restored them all at start; its rows become
    deferred ones (read through the index in (visible_at, seq) order, the order that version
    restored them in) and its queues get numbers and stored counts."""
    with Transaction(conn, "BEGIN IMMEDIATE"):
        old = bool(list(conn.execute("PRAGMA table_info(messages)")))
        totals = {r[1] for r in conn.execute("PRAGMA table_info(queue_totals)")}
        if totals and "no" not in totals:
            for column in ("no INTEGER", "messages INTEGER NOT NULL DEFAULT 0", "bytes INTEGER NOT NULL DEFAULT 0"):
                conn.execute(f"ALTER TABLE queue_totals ADD COLUMN {column}")
        for statement in SCHEMA.split(";"):  # (no ";" in its comments)
            conn.execute(statement)
        if old:
            conn.execute("INSERT OR IGNORE INTO queue_totals (queue) SELECT DISTINCT queue FROM messages")
            conn.execute("INSERT INTO deferred SELECT *, seq, length(body) FROM messages")
            conn.execute("UPDATE queue_totals SET messages = (SELECT COUNT(*) FROM deferred d WHERE d.queue = "
                         "queue_totals.queue), bytes = (SELECT TOTAL(size) FROM deferred d WHERE d.queue = "
                         "queue_totals.queue)")
            conn.execute("INSERT OR REPLACE INTO meta (key, value) SELECT 'next_seq', COALESCE(MAX(seq), 0) + 1 "
                         "FROM messages")
            conn.execute("DROP TABLE messages")
        conn.execute("UPDATE queue_totals SET no = rowid WHERE no IS NULL")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


# Rows per INSERT statement: one multi-row statement per few hundred rows costs a fraction
# of one execute per row (per-call overhead in the sqlite3 module and in SQLite's VM).
# 256 rows x 10 columns stays far below SQLite's 32766 bound-variable limit.
_INSERT_CHUNK = 256
_values_sql_cache: dict[tuple[int, int], str] = {}  # at most 2 x 256 entries, whatever the queues


def _insert(conn: sqlite3.Connection, table: str, rows: list[Row], columns: int) -> None:
    for start in range(0, len(rows), _INSERT_CHUNK):
        chunk = rows[start:start + _INSERT_CHUNK]
        values = _values_sql_cache.get((len(chunk), columns))
        if values is None:
            row = "(" + ", ".join(["?"] * columns) + ")"
            values = _values_sql_cache[(len(chunk), columns)] = " VALUES " + ", ".join([row] * len(chunk))
        conn.execute("INSERT INTO " + table + values, [v for row in chunk for v in row])


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
