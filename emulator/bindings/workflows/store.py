"""The workflows state file: schema, group commit, inspection queries, offline actions.

One SQLite file, ``<state>/workflows/workflows.sqlite3``, in WAL mode with
``synchronous=NORMAL``: a committed transaction is in the WAL (the OS page cache) when
``COMMIT`` returns, so it survives ``kill -9`` of the emulator; only power loss can drop the
last transactions, which is out of scope for a local emulator. That lets a step commit
without an ``fsync``.

Writes go through ``WorkflowStore.write``: every coroutine that wants to persist
something queues its statements and awaits one shared commit that runs on the next loop
turn (group commit), so two thousand instances stepping at once share a handful of
transactions instead of paying for one each. Nothing is acted on before its commit
returns.

WAL checkpoints are the only writes that ``fsync`` here; SQLite's automatic checkpoint
would run them on the event loop inside some unlucky ``COMMIT`` (measured: more than half
of the wall time of a step-heavy run). The engine's connection therefore disables it and
``emulator.sqlite`` checkpoints on a worker thread every ``CHECKPOINT_EVERY`` commits.

The query helpers take a plain ``sqlite3.Connection`` so the CLI can read (and, with no
``dev`` running, change) the same file without an engine.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import sqlite3
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Sequence

from emulator.bindings.workflows.errors import OfflineActionError
from emulator.sqlite import Transaction, WalCheckpointer, bind_bytes_directly

DB_FILENAME = "workflows.sqlite3"
CHECKPOINT_EVERY = 256  # commits between background WAL checkpoints

# Cloudflare's status names (docs/workflows.md, "Statuses").
QUEUED, RUNNING, PAUSED, ERRORED, TERMINATED, COMPLETE = (
    "queued", "running", "paused", "errored", "terminated", "complete")
WAITING_FOR_PAUSE, WAITING, UNKNOWN = "waitingForPause", "waiting", "unknown"
STATUSES = (QUEUED, RUNNING, PAUSED, ERRORED, TERMINATED, COMPLETE, WAITING_FOR_PAUSE, WAITING, UNKNOWN)
FINITE = (COMPLETE, ERRORED, TERMINATED)
# Instances a (re)started engine picks up again.
RESUMABLE = (QUEUED, RUNNING, WAITING, WAITING_FOR_PAUSE)

SCHEMA = """
CREATE TABLE IF NOT EXISTS workflows (
    name TEXT PRIMARY KEY,
    class_name TEXT,
    script_name TEXT
);
CREATE TABLE IF NOT EXISTS instances (
    workflow TEXT NOT NULL,
    id TEXT NOT NULL,
    status TEXT NOT NULL,
    params TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    started_ms INTEGER,
    ended_ms INTEGER,
    paused_ms INTEGER,
    output TEXT,
    error TEXT,
    PRIMARY KEY (workflow, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS instances_by_status ON instances (status);
CREATE TABLE IF NOT EXISTS steps (
    workflow TEXT NOT NULL,
    instance TEXT NOT NULL,
    key TEXT NOT NULL,            -- "<name>-<count>": Cloudflare's cache key (name + occurrence)
    seq INTEGER NOT NULL,         -- order of first start, for inspection
    name TEXT NOT NULL,
    count INTEGER NOT NULL,
    type TEXT NOT NULL,           -- do | sleep | waitForEvent
    status TEXT NOT NULL,         -- running | sleeping | waiting | complete | errored
    attempts INTEGER NOT NULL DEFAULT 0,
    config TEXT,
    started_ms INTEGER,
    ended_ms INTEGER,
    deadline_ms INTEGER,          -- sleep/wait deadline, or when a failed step.do retries
    output TEXT,
    error TEXT,
    PRIMARY KEY (workflow, instance, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS attempts (
    workflow TEXT NOT NULL,
    instance TEXT NOT NULL,
    key TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    started_ms INTEGER NOT NULL,
    ended_ms INTEGER,
    error TEXT,
    PRIMARY KEY (workflow, instance, key, attempt)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow TEXT NOT NULL,
    instance TEXT NOT NULL,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    consumed_by TEXT
);
CREATE INDEX IF NOT EXISTS events_pending ON events (workflow, instance, type, consumed_by);
-- What the engine asks without loading every instance (engine.py: waking, admission, paging).
CREATE INDEX IF NOT EXISTS instances_by_status_created ON instances (status, created_ms, id);
CREATE INDEX IF NOT EXISTS instances_by_created ON instances (workflow, created_ms, id);
CREATE INDEX IF NOT EXISTS steps_by_deadline ON steps (deadline_ms)
    WHERE deadline_ms IS NOT NULL AND status IN ('sleeping', 'waiting', 'running');
CREATE INDEX IF NOT EXISTS events_unconsumed ON events (workflow, instance) WHERE consumed_by IS NULL;
"""

Op = tuple[str, Sequence[Any]]


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """Open the state file (creating the schema unless read-only)."""
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        bind_bytes_directly()
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        # See the module docstring: durable against kill -9, not against power loss.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(SCHEMA)
    conn.execute("PRAGMA busy_timeout=5000")
    conn.row_factory = sqlite3.Row
    return conn


class WorkflowStore:
    """The engine's connection with group commit and background checkpoints."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None
        self._ops: list[Op] = []
        self._groups: list[tuple[int, int, asyncio.Future[None]]] = []
        self._flush_scheduled = False
        self._checkpointer = WalCheckpointer(path, CHECKPOINT_EVERY, "workflows-wal")

    def open(self) -> None:
        if self.conn is None:
            self.conn = connect(self.path)
            self.conn.execute("PRAGMA wal_autocheckpoint=0")

    async def aclose(self) -> None:
        """Flush, wait for a running checkpoint, close (closing checkpoints what is left)."""
        await self._checkpointer.wait()
        self.close()

    def close(self) -> None:
        self._flush()
        self._checkpointer.close()
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    @property
    def pending(self) -> bool:
        return bool(self._groups)

    def write(self, *ops: Op) -> asyncio.Future[None]:
        """Queue statements for the next group commit; await the result to know they are durable."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        start = len(self._ops)
        self._ops.extend(ops)
        self._groups.append((start, len(self._ops), fut))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        self._flush_scheduled = False
        ops, groups = self._ops, self._groups
        self._ops, self._groups = [], []
        if not groups:
            return
        assert self.conn is not None, "workflow store is closed"
        try:
            self._run(ops)
        except sqlite3.Error:
            # One bad group must not lose the others: retry each in its own transaction.
            for start, end, fut in groups:
                try:
                    self._run(ops[start:end])
                except sqlite3.Error as exc:
                    if not fut.done():
                        fut.set_exception(exc)
                else:
                    if not fut.done():
                        fut.set_result(None)
            return
        for _, _, fut in groups:
            if not fut.done():
                fut.set_result(None)
        self._checkpointer.committed()

    def _run(self, ops: Iterable[Op]) -> None:
        conn = self._open_conn()
        with Transaction(conn):
            for sql, params in ops:
                conn.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self._open_conn().execute(sql, params).fetchall()

    def _open_conn(self) -> sqlite3.Connection:
        assert self.conn is not None, "workflow store is closed"
        return self.conn

    # What the engine asks of the file; the CLI, without an engine, calls the same functions
    # below on a connection of its own.
    def record_definition(self, name: str, class_name: str | None, script_name: str | None) -> None:
        """Remember which class and script define workflow ``name`` (for listings)."""
        self._open_conn().execute("INSERT OR REPLACE INTO workflows (name, class_name, script_name) "
                                  "VALUES (?, ?, ?)", (name, class_name, script_name))

    def due_instances(self, now_ms: int, limit: int) -> list[tuple[str, str]]:
        return due_instances(self._open_conn(), now_ms, limit)

    def next_deadline(self, now_ms: int) -> int | None:
        return next_deadline(self._open_conn(), now_ms)

    def runnable_instances(self, now_ms: int, wanted: int, live: int) -> list[tuple[str, str]]:
        return runnable_instances(self._open_conn(), now_ms, wanted, live)

    def list_workflows(self, extra: Iterable[dict[str, Any]] = ()) -> list[dict[str, Any]]:
        return list_workflows(self._open_conn(), extra)

    def list_instances(self, workflow: str, status: str | None = None, limit: int | None = None,
                       cursor: str | None = None) -> list[dict[str, Any]]:
        return list_instances(self._open_conn(), workflow, status, limit, cursor)

    def describe_instance(self, workflow: str, instance_id: str) -> dict[str, Any] | None:
        return describe_instance(self._open_conn(), workflow, instance_id)


# --- inspection (shared by the HTTP routes and the CLI) --------------------------------
def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.UTC).isoformat(timespec="milliseconds")


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def list_workflows(conn: sqlite3.Connection, extra: Iterable[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """Every known workflow with its instance counts by status."""
    found: dict[str, dict[str, Any]] = {}
    for row in conn.execute("SELECT name, class_name, script_name FROM workflows"):
        found[row["name"]] = {"name": row["name"], "class_name": row["class_name"],
                              "script_name": row["script_name"]}
    for item in extra:
        found.setdefault(item["name"], dict(item))
    for row in conn.execute("SELECT workflow, status, COUNT(*) AS n FROM instances GROUP BY workflow, status"):
        entry = found.setdefault(row["workflow"], {"name": row["workflow"], "class_name": None,
                                                   "script_name": None})
        entry.setdefault("instances", {})[row["status"]] = row["n"]
    result = []
    for name in sorted(found):
        entry = found[name]
        counts = entry.setdefault("instances", {})
        entry["total"] = sum(counts.values())
        result.append(entry)
    return result


def _instance_summary(row: sqlite3.Row) -> dict[str, Any]:
    start, end = row["started_ms"], row["ended_ms"]
    return {
        "id": row["id"],
        "workflow": row["workflow"],
        "status": row["status"],
        "created": _iso(row["created_ms"]),
        "started": _iso(start),
        "ended": _iso(end),
        "duration_ms": (end - start) if start is not None and end is not None else None,
        "error": _json(row["error"]),
    }


def list_instances(conn: sqlite3.Connection, workflow: str, status: str | None = None,
                   limit: int | None = None, cursor: str | None = None) -> list[dict[str, Any]]:
    """Instances of ``workflow``, newest first (then by id). ``limit`` caps the page and
    ``cursor`` (``instances_cursor`` of the last instance of the previous page) continues
    after it: each page is a range of the ``instances_by_created`` index."""
    sql = "SELECT * FROM instances WHERE workflow = ?"
    params: list[Any] = [workflow]
    if status:
        sql += " AND status = ?"
        params.append(status)
    if cursor:
        created, instance_id = _parse_cursor(cursor)
        sql += " AND (created_ms < ? OR (created_ms = ? AND id > ?))"
        params += [created, created, instance_id]
    sql += " ORDER BY created_ms DESC, id"
    if limit:
        sql += " LIMIT ?"
        params.append(limit)
    return [_instance_summary(r) for r in conn.execute(sql, params)]


def instances_cursor(instance: dict[str, Any]) -> str:
    """Where the page ending with ``instance`` (a ``list_instances`` item) stops."""
    created = _dt.datetime.fromisoformat(instance["created"])
    return f"{round(created.timestamp() * 1000)}:{instance['id']}"


def _parse_cursor(cursor: str) -> tuple[int, str]:
    created, sep, instance_id = cursor.partition(":")
    try:
        if not sep:
            raise ValueError(cursor)
        return int(created), instance_id
    except ValueError:
        raise ValueError(f"invalid instances cursor {cursor!r}") from None


# --- what the engine asks to wake and admit instances (never every row) ------------------
# A pending step: a sleep, an event wait, or a step.do started (deadline = its retry time).
_PENDING = "status IN ('sleeping', 'waiting', 'running')"
# Unconsumed events that a pending waitForEvent of their instance waits for (by type).
_MATCHED_EVENTS = (
    "FROM events e JOIN steps w ON w.workflow = e.workflow AND w.instance = e.instance AND w.status = 'waiting'"
    " AND w.type = 'waitForEvent' AND json_extract(w.config, '$.type') = e.type WHERE e.consumed_by IS NULL")
# An instance is unloaded ("hibernated") while it has a pending step with a future deadline,
# none that is due or undated (an attempt cut short) and no event its wait can take.
_RUNNABLE = f"""NOT (
    EXISTS (SELECT 1 FROM steps s WHERE s.workflow = i.workflow AND s.instance = i.id AND s.{_PENDING}
            AND s.deadline_ms > :now)
    AND NOT EXISTS (SELECT 1 FROM steps s WHERE s.workflow = i.workflow AND s.instance = i.id
                    AND s.{_PENDING} AND (s.deadline_ms IS NULL OR s.deadline_ms <= :now))
    AND NOT EXISTS (SELECT 1 {_MATCHED_EVENTS} AND e.workflow = i.workflow AND e.instance = i.id))"""  # noqa: S608 - constant fragments


def due_instances(conn: sqlite3.Connection, now_ms: int, limit: int) -> list[tuple[str, str]]:
    """Running or waiting instances with a pending step whose deadline has passed (oldest
    deadline first: a range of the ``steps_by_deadline`` index), then those with an event
    their wait can take (from the ``events_unconsumed`` index)."""
    rows = conn.execute(
        "SELECT s.workflow, s.instance FROM steps s JOIN instances i ON i.workflow = s.workflow AND i.id = s.instance"
        " WHERE s.deadline_ms IS NOT NULL AND s.status IN ('sleeping', 'waiting', 'running')"
        " AND s.deadline_ms <= ? AND i.status IN ('running', 'waiting') ORDER BY s.deadline_ms LIMIT ?",
        (now_ms, limit)).fetchall()
    if len(rows) < limit:
        rows += conn.execute(
            f"SELECT e.workflow, e.instance {_MATCHED_EVENTS} AND EXISTS (SELECT 1 FROM instances i WHERE"  # noqa: S608 - constant fragments
            " i.workflow = e.workflow AND i.id = e.instance AND i.status IN ('running', 'waiting'))"
            " LIMIT ?", (limit - len(rows),)).fetchall()
    return list(dict.fromkeys((r[0], r[1]) for r in rows))


def next_deadline(conn: sqlite3.Connection, now_ms: int) -> int | None:
    """The earliest future deadline of a running or waiting instance's pending step."""
    row = conn.execute(
        "SELECT s.deadline_ms FROM steps s JOIN instances i ON i.workflow = s.workflow AND i.id = s.instance"
        " WHERE s.deadline_ms IS NOT NULL AND s.status IN ('sleeping', 'waiting', 'running')"
        " AND s.deadline_ms > ? AND i.status IN ('running', 'waiting') ORDER BY s.deadline_ms LIMIT 1",
        (now_ms,)).fetchone()
    return int(row[0]) if row else None


def runnable_instances(conn: sqlite3.Connection, now_ms: int, wanted: int, live: int) -> list[tuple[str, str]]:
    """Up to ``wanted`` + ``live`` instances that can run now, in admission order: running
    ones that are not unloaded (oldest first), due ones, queued ones (oldest first). ``live``
    extra rows are read because the caller's live runs are among them."""
    limit = wanted + live
    found: dict[tuple[str, str], None] = {}
    for row in conn.execute(f"SELECT i.workflow, i.id FROM instances i WHERE i.status = 'running'"  # noqa: S608 - constant fragments
                            f" AND {_RUNNABLE} ORDER BY i.created_ms, i.id LIMIT :limit",
                            {"now": now_ms, "limit": limit}):
        found[(row[0], row[1])] = None
    if len(found) < limit:
        for key in due_instances(conn, now_ms, limit):
            found[key] = None
    if len(found) < limit:
        for row in conn.execute("SELECT workflow, id FROM instances WHERE status = 'queued'"
                                " ORDER BY created_ms, id LIMIT ?", (limit,)):
            found[(row[0], row[1])] = None
    return list(found)[:limit]


def describe_instance(conn: sqlite3.Connection, workflow: str, instance_id: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT * FROM instances WHERE workflow = ? AND id = ?",
                       (workflow, instance_id)).fetchone()
    if row is None:
        return None
    result = _instance_summary(row)
    result["params"] = _json(row["params"])
    result["output"] = _json(row["output"])
    attempts: dict[str, list[dict[str, Any]]] = {}
    for a in conn.execute("SELECT * FROM attempts WHERE workflow = ? AND instance = ? ORDER BY key, attempt",
                          (workflow, instance_id)):
        s, e = a["started_ms"], a["ended_ms"]
        attempts.setdefault(a["key"], []).append({
            "attempt": a["attempt"], "start": _iso(s), "end": _iso(e),
            "duration_ms": (e - s) if e is not None else None, "error": _json(a["error"]),
        })
    steps = []
    for s in conn.execute("SELECT * FROM steps WHERE workflow = ? AND instance = ? ORDER BY seq",
                          (workflow, instance_id)):
        start, end = s["started_ms"], s["ended_ms"]
        config = _json(s["config"])
        output = _json(s["output"])
        if isinstance(config, dict) and config.get("sensitive") == "output" and output is not None:
            output = "[REDACTED]"  # Cloudflare: `sensitive: "output"` hides it from inspection
        steps.append({
            "name": s["name"], "count": s["count"], "type": s["type"], "status": s["status"],
            "attempts": s["attempts"], "start": _iso(start), "end": _iso(end),
            "duration_ms": (end - start) if start is not None and end is not None else None,
            "deadline": _iso(s["deadline_ms"]) if s["status"] not in ("complete", "errored") else None,
            "config": config, "output": output, "error": _json(s["error"]),
            "attempt_log": attempts.get(s["key"], []),
        })
    result["steps"] = steps
    return result


# --- changes made without an engine (CLI on a state dir with no `dev` running) ----------
def offline_action(conn: sqlite3.Connection, workflow: str, instance_id: str, action: str,
                   now_ms: int) -> str:
    """Apply terminate/pause/resume/restart to the state file; returns the new status.

    The next engine start honours the result: it resumes queued/running/waiting instances
    and leaves paused and finished ones alone (resume shifts pending timers by the time
    spent paused, as Cloudflare does).
    """
    row = conn.execute("SELECT status, paused_ms FROM instances WHERE workflow = ? AND id = ?",
                       (workflow, instance_id)).fetchone()
    if row is None:
        raise OfflineActionError("(instance.not_found) Instance does not exist")
    status: str = row["status"]
    with Transaction(conn, "BEGIN IMMEDIATE"):
        new = status
        if action == "terminate":
            if status in FINITE:
                raise OfflineActionError(
                    "(instance.cannot_terminate) Cannot terminate instance since its on a finite state")
            new = TERMINATED
            conn.execute("UPDATE instances SET status = ?, ended_ms = ? WHERE workflow = ? AND id = ?",
                         (new, now_ms, workflow, instance_id))
        elif action == "pause":
            if status in (QUEUED, RUNNING, WAITING, WAITING_FOR_PAUSE):
                new = PAUSED
                conn.execute("UPDATE instances SET status = ?, paused_ms = ? WHERE workflow = ? AND id = ?",
                             (new, now_ms, workflow, instance_id))
        elif action == "resume":
            if status == PAUSED:
                new = RUNNING
                shift_paused_timers(conn, workflow, instance_id, now_ms - (row["paused_ms"] or now_ms))
                conn.execute("UPDATE instances SET status = ?, paused_ms = NULL WHERE workflow = ? AND id = ?",
                             (new, workflow, instance_id))
            elif status == WAITING_FOR_PAUSE:
                new = RUNNING
                conn.execute("UPDATE instances SET status = ? WHERE workflow = ? AND id = ?",
                             (new, workflow, instance_id))
        elif action == "restart":
            new = QUEUED
            for op in restart_ops(workflow, instance_id):
                conn.execute(*op)
        else:
            raise OfflineActionError(f"unknown action {action!r}")
    return new


def latest_instance(conn: sqlite3.Connection, workflow: str) -> str | None:
    """The most recently created instance of a workflow (wrangler's ``latest``; ties: the greatest id)."""
    row = conn.execute("SELECT id FROM instances WHERE workflow = ? ORDER BY created_ms DESC, id DESC LIMIT 1",
                       (workflow,)).fetchone()
    return None if row is None else str(row["id"])


def known_workflows(conn: sqlite3.Connection) -> set[str]:
    """Workflow names the state file knows: registered definitions and instances' workflows."""
    names = {str(r["name"]) for r in conn.execute("SELECT name FROM workflows")}
    names.update(str(r["workflow"]) for r in conn.execute("SELECT DISTINCT workflow FROM instances"))
    return names


def offline_create(conn: sqlite3.Connection, workflow: str, instance_id: str, encoded_params: str,
                   now_ms: int) -> None:
    """A queued instance the next engine start runs (``workflows trigger`` with no `dev`)."""
    with Transaction(conn, "BEGIN IMMEDIATE"):
        if conn.execute("SELECT 1 FROM instances WHERE workflow = ? AND id = ?", (workflow, instance_id)).fetchone():
            raise OfflineActionError(f'(instance.already_exists) Instance "{instance_id}" already exists')
        conn.execute("INSERT INTO instances (workflow, id, status, params, created_ms) VALUES (?, ?, 'queued', ?, ?)",
                     (workflow, instance_id, encoded_params, now_ms))


def offline_send_event(conn: sqlite3.Connection, workflow: str, instance_id: str, event_type: str,
                       encoded_payload: str, now_ms: int) -> None:
    """Store an event for an instance; its ``wait_for_event`` takes it when the engine runs."""
    found = conn.execute("SELECT 1 FROM instances WHERE workflow = ? AND id = ?", (workflow, instance_id)).fetchone()
    if found is None:
        raise OfflineActionError("(instance.not_found) Instance does not exist")
    conn.execute("INSERT INTO events (workflow, instance, type, payload, timestamp_ms) VALUES (?, ?, ?, ?, ?)",
                 (workflow, instance_id, event_type, encoded_payload, now_ms))


def offline_delete_instances(conn: sqlite3.Connection, workflow: str) -> int:
    """Remove every instance of a workflow with its steps and events; how many there were."""
    ids = [str(r["id"]) for r in conn.execute("SELECT id FROM instances WHERE workflow = ?", (workflow,))]
    with Transaction(conn, "BEGIN IMMEDIATE"):
        for instance_id in ids:
            for op in delete_ops(workflow, instance_id):
                conn.execute(*op)
    return len(ids)


def shift_paused_timers(conn: sqlite3.Connection, workflow: str, instance_id: str, delta_ms: int) -> None:
    for op in shift_ops(workflow, instance_id, delta_ms):
        conn.execute(*op)


def shift_ops(workflow: str, instance_id: str, delta_ms: int) -> list[Op]:
    """Pending sleeps, event timeouts and retry delays move on by the time spent paused."""
    return [("UPDATE steps SET deadline_ms = deadline_ms + ? WHERE workflow = ? AND instance = ? "
             "AND deadline_ms IS NOT NULL AND status NOT IN ('complete', 'errored')",
             (delta_ms, workflow, instance_id))]


def delete_ops(workflow: str, instance_id: str) -> list[Op]:
    return [(f"DELETE FROM {table} WHERE workflow = ? AND {column} = ?", (workflow, instance_id))  # noqa: S608 - constant table and column names
            for table, column in (("steps", "instance"), ("attempts", "instance"), ("events", "instance"),
                                  ("instances", "id"))]


def restart_ops(workflow: str, instance_id: str) -> list[Op]:
    """Restart from scratch: drop the step cache and consumed events, back to queued."""
    return [
        ("DELETE FROM steps WHERE workflow = ? AND instance = ?", (workflow, instance_id)),
        ("DELETE FROM attempts WHERE workflow = ? AND instance = ?", (workflow, instance_id)),
        ("DELETE FROM events WHERE workflow = ? AND instance = ? AND consumed_by IS NOT NULL",
         (workflow, instance_id)),
        ("UPDATE instances SET status = 'queued', started_ms = NULL, ended_ms = NULL, paused_ms = NULL, "
         "output = NULL, error = NULL WHERE workflow = ? AND id = ?", (workflow, instance_id)),
    ]
