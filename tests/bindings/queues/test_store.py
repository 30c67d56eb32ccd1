"""The SQLite layer: WAL, group commit, write order, durability of what was committed."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from emulator.bindings.queues.store import MessageStore, _runs


def row(seq: int, queue: str = "q") -> tuple[int, str, str, int, str, bytes, int, float]:
    return (seq, f"{seq:032x}", queue, 1000, "json", b"1", 1, 0.0)


async def test_wal_mode_and_synchronous_normal(tmp_path: Path) -> None:
    store = MessageStore(tmp_path / "q.sqlite3")
    await store.open()
    assert store._conn is not None
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    await store.close()
    conn = sqlite3.connect(tmp_path / "q.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


async def test_writes_of_one_loop_tick_share_a_transaction(tmp_path: Path) -> None:
    store = MessageStore(tmp_path / "q.sqlite3")
    await store.open()
    before = store.commits
    await asyncio.gather(*(store.insert([row(i)], 1) for i in range(1, 501)))
    assert store.commits - before <= 2  # one commit, perhaps one more for stragglers
    await store.close()


async def test_order_insert_update_delete_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    store = MessageStore(path)
    rows, totals, next_seq = await store.open()
    assert (rows, totals, next_seq) == ([], {}, 1)
    committed: list[list[str]] = []
    store.commit_listeners.append(committed.append)
    pending = store.insert([row(1), row(2), row(3)], 3)
    store.update("dlq", 1, 5.0, 2)       # moved to a dead-letter queue in the same transaction
    store.delete_many([1], [f"{1:032x}"])  # acked in the same transaction too
    store.count("q", "acked")
    store.count("q", "dlq")
    await pending
    await store.flush()
    assert committed == [[f"{1:032x}"]]
    await store.close()

    again = MessageStore(path)
    rows, totals, next_seq = await again.open()
    assert [(r[0], r[2], r[7]) for r in rows] == [(3, "q", 0.0), (2, "dlq", 5.0)]
    assert totals["q"] == {"acked": 1, "retried": 0, "dropped": 0, "dlq": 1}
    assert totals["dlq"] == {"acked": 0, "retried": 0, "dropped": 0, "dlq": 0}  # remembered, empty
    assert next_seq == 4
    await again.close()


def test_deletes_are_grouped_into_ranges() -> None:
    assert _runs([5, 1, 2, 3, 9, 10, 7]) == [(1, 3), (5, 5), (7, 7), (9, 10)]
    assert _runs([4]) == [(4, 4)]


async def test_a_failed_transaction_is_reported(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    store = MessageStore(tmp_path / "q.sqlite3", on_error=errors.append)
    await store.open()
    await store.insert([row(1)], 1)
    try:
        await store.insert([row(1)], 1)  # the same primary key again
    except sqlite3.IntegrityError:
        pass
    else:
        raise AssertionError("a duplicate seq must fail its transaction")
    assert len(errors) == 1 and isinstance(errors[0], sqlite3.IntegrityError)
    await store.close()


async def test_commits_never_checkpoint_on_the_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import emulator.bindings.queues.store as store_module

    monkeypatch.setattr(store_module, "CHECKPOINT_EVERY", 3)
    store = MessageStore(tmp_path / "q.sqlite3")
    await store.open()
    assert store._conn is not None
    assert store._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    for seq in range(1, 7):
        await store.insert([row(seq)], 1)
    await store._checkpointer.wait()
    assert store._checkpointer.checkpoints >= 1  # on its own thread, every 3 commits
    await store.close()
    again = MessageStore(tmp_path / "q.sqlite3")
    rows, _, _ = await again.open()
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5, 6]
    await again.close()
