"""The SQLite layer: WAL, group commit, write order, row ranges, reads, upgrade, durability."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from emulator.bindings.queues.store import FIRST, SCHEMA_VERSION, MessageStore, Row, _runs

NOW = 1000.0


def row(n: int, queue: str = "q", visible_at: float = 0.0, deferred: bool = False) -> Row:
    """A row of one byte; a deferred one carries its ord (here n) and size."""
    plain = (n, f"{n:032x}", queue, 1000, "json", b"1", 1, visible_at)
    return (*plain, n, 1) if deferred else plain


async def opened(path: Path) -> MessageStore:
    store = MessageStore(path)
    await store.open(NOW)
    return store


async def test_wal_mode_and_synchronous_normal(tmp_path: Path) -> None:
    store = await opened(tmp_path / "q.sqlite3")
    assert store._conn is not None
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    await store.close()
    conn = sqlite3.connect(tmp_path / "q.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


async def test_writes_of_one_loop_tick_share_a_transaction(tmp_path: Path) -> None:
    store = await opened(tmp_path / "q.sqlite3")
    before = store.commits
    await asyncio.gather(*(store.insert("q", [row(i)], 1) for i in range(1, 501)))
    assert store.commits - before <= 2  # one commit, perhaps one more for stragglers
    await store.close()


async def test_order_insert_update_delete_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    store = MessageStore(path)
    state = await store.open(NOW)
    assert (state.queues, state.next_seq) == ({}, 1)
    committed: list[list[str]] = []
    store.commit_listeners.append(committed.append)
    pending = store.insert("q", [row(1), row(2), row(3)], 3)
    # Moved to a dead-letter queue in the same transaction: out of q's arrivals, deferred.
    store.update(2, "dlq", 1, 5.0, 4, arrived_in="q")
    for queue, n in (("q", -1), ("dlq", 1)):
        store.count(queue, "messages", n)
        store.count(queue, "bytes", n)
    store.delete_many("q", [1], [], [f"{1:032x}"])  # acked in the same transaction too
    store.count("q", "messages", -1)
    store.count("q", "bytes", -1)
    store.count("q", "acked")
    store.count("q", "dlq")
    await pending
    await store.flush()
    assert committed == [[f"{1:032x}"]]
    await store.close()

    again = MessageStore(path)
    state = await again.open(NOW)
    q, dlq = state.queues["q"], state.queues["dlq"]
    assert (q.messages, q.totals) == (1, {"acked": 1, "retried": 0, "dropped": 0, "dlq": 1})
    assert (dlq.messages, dlq.bytes, dlq.future) == (1, 1, 0)
    assert state.next_seq == 5  # past every number used, the dead-letter move's ord (4) included
    assert [r[0] for r in again.fetch_plain("q", 0, 10)] == [3]
    assert again.fetch_plain("dlq", 0, 10) == [] and again.fetch_deferred("q", FIRST, 10) == []
    [moved] = again.fetch_deferred("dlq", FIRST, 10)
    assert (moved[0], moved[6], moved[7], moved[8]) == (2, 5.0, 4, 1)
    again.delete(2, None)
    await again.flush()
    assert again.fetch_deferred("dlq", FIRST, 10) == []
    await again.close()


async def test_open_reads_figures_not_messages(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    store = await opened(path)
    await store.insert("q", [row(n) for n in range(1, 1001)], 1010,
                       deferred=[row(n, visible_at=NOW + n, deferred=True) for n in range(1001, 1011)])
    await store.close()

    again = MessageStore(path)
    state = await again.open(NOW)
    info = state.queues["q"]
    assert (info.messages, info.bytes, info.future, info.future_bytes) == (1010, 1010, 10, 10)
    assert info.next_future == NOW + 1001
    assert info.head == ((0.0, 1), 1000)  # the first message in (visible_at, ord) order
    assert again.rows_read <= 2  # the first row of each of the two orders, nothing else
    await again.close()


async def test_reads_see_writes_queued_before_them(tmp_path: Path) -> None:
    store = await opened(tmp_path / "q.sqlite3")
    order: list[str] = []
    fut = store.insert("q", [row(1), row(2)], 2, on_commit=lambda: order.append("placed"))
    fut.add_done_callback(lambda _: order.append("resolved"))
    # Not committed yet, but a read commits what is queued first (and runs on_commit then).
    assert [r[0] for r in store.fetch_plain("q", 0, 10)] == [1, 2]
    assert order == ["placed"]
    store.update(1, "q", 2, 9.0, 7, arrived_in="q")
    assert store.count_deferred("q", FIRST, 5.0, 10.0) == (1, 1)
    assert store.next_deferred("q", FIRST, 0.0) == 9.0
    assert store.next_deferred("q", (9.0, 7), 0.0) is None  # strictly after the cursor
    await fut
    await asyncio.sleep(0)  # done callbacks run on the next loop turn
    assert order == ["placed", "resolved"]
    assert store.find("q", f"{2:032x}")[0] == 2 and store.find("q", f"{1:032x}")[7] == 7  # type: ignore[index]  # the messages exist: stored just above
    assert store.find("q", "0" * 32) is None
    store.purge("q")
    assert store.fetch_plain("q", 0, 10) == [] and store.fetch_deferred("q", FIRST, 10) == []
    await store.close()


async def test_a_file_of_the_first_version_is_upgraded(tmp_path: Path) -> None:
    """A state directory written before queue numbers existed keeps every message and its order."""
    path = tmp_path / "q.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE messages (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, queue TEXT NOT NULL,
            timestamp_ms INTEGER NOT NULL, content_type TEXT NOT NULL, body BLOB NOT NULL,
            attempts INTEGER NOT NULL, visible_at REAL NOT NULL);
        CREATE TABLE queue_totals (queue TEXT PRIMARY KEY, acked INTEGER NOT NULL DEFAULT 0,
            retried INTEGER NOT NULL DEFAULT 0, dropped INTEGER NOT NULL DEFAULT 0, dlq INTEGER NOT NULL DEFAULT 0);
        INSERT INTO queue_totals (queue, acked) VALUES ('b', 7);
        INSERT INTO messages VALUES (1, 'x1', 'a', 1, 'json', X'31', 1, 500.0);
        INSERT INTO messages VALUES (2, 'x2', 'b', 1, 'json', X'3232', 2, 400.0);
        INSERT INTO messages VALUES (3, 'x3', 'a', 1, 'json', X'33', 1, 300.0);
        INSERT INTO messages VALUES (4, 'x4', 'a', 1, 'json', X'34', 1, 5000.0);
    """)
    conn.close()
    store = MessageStore(path)
    state = await store.open(NOW)
    a, b = state.queues["a"], state.queues["b"]
    assert (a.messages, a.bytes, a.future, a.next_future) == (3, 3, 1, 5000.0)
    assert (b.messages, b.bytes, b.totals["acked"]) == (1, 2, 7)
    assert state.next_seq == 5
    assert [r[1] for r in store.fetch_deferred("a", FIRST, 10)] == ["x3", "x1", "x4"]
    assert [r[1] for r in store.fetch_deferred("b", FIRST, 10)] == ["x2"]
    await store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    conn.close()


def test_deletes_are_grouped_into_ranges() -> None:
    assert _runs([5, 1, 2, 3, 9, 10, 7]) == [(1, 3), (5, 5), (7, 7), (9, 10)]
    assert _runs([4]) == [(4, 4)]


async def test_a_failed_transaction_is_reported(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    store = MessageStore(tmp_path / "q.sqlite3", on_error=errors.append)
    await store.open(NOW)
    placed: list[int] = []
    await store.insert("q", [row(1)], 1)
    try:
        await store.insert("q", [row(1)], 1, on_commit=lambda: placed.append(1))  # the same primary key again
    except sqlite3.IntegrityError:
        pass
    else:
        raise AssertionError("a duplicate seq must fail its transaction")
    assert len(errors) == 1 and isinstance(errors[0], sqlite3.IntegrityError)
    assert placed == []  # nothing of a failed transaction is placed
    await store.close()


async def test_commits_never_checkpoint_on_the_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import emulator.bindings.queues.store as store_module

    monkeypatch.setattr(store_module, "CHECKPOINT_EVERY", 3)
    store = await opened(tmp_path / "q.sqlite3")
    assert store._conn is not None
    assert store._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    for n in range(1, 7):
        await store.insert("q", [row(n)], 1)
    await store._checkpointer.wait()
    assert store._checkpointer.checkpoints >= 1  # on its own thread, every 3 commits
    await store.close()
    again = await opened(tmp_path / "q.sqlite3")
    assert [r[1] for r in again.fetch_plain("q", 0, 10)] == [f"{n:032x}" for n in range(1, 7)]
    await again.close()


async def test_a_failing_commit_callback_is_reported_and_commits_go_on(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    store = MessageStore(tmp_path / "q.sqlite3", on_error=errors.append)
    await store.open(NOW)

    def broken() -> None:
        raise RuntimeError("placement bug")

    await store.insert("q", [row(1)], 1, on_commit=broken)  # committed all the same
    await store.insert("q", [row(2)], 1)
    assert [type(e) for e in errors] == [RuntimeError]
    assert [r[0] for r in store.fetch_plain("q", 0, 10)] == [1, 2]
    await store.close()
