"""emulator.sqlite: background WAL checkpoints (every N commits, off the writer's thread, never
fatal), blob binding, the database size read from the WAL-index header, transactions, prefix bounds."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.sqlite import Transaction, WalCheckpointer, WalIndex, bind_bytes_directly, prefix_upper_bound


def _writer(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE t (x BLOB)")
    return conn


def _wal_frames_backfilled(path: Path) -> tuple[int, int]:
    probe = sqlite3.connect(path, isolation_level=None)
    try:
        _, frames, backfilled = probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return frames, backfilled
    finally:
        probe.close()


def test_checkpoints_every_n_commits_on_its_own_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "db.sqlite3"
    conn = _writer(path)
    threads: list[str] = []
    real = WalCheckpointer._checkpoint

    def spy(self: WalCheckpointer) -> None:
        threads.append(threading.current_thread().name)
        real(self)

    monkeypatch.setattr(WalCheckpointer, "_checkpoint", spy)
    checkpointer = WalCheckpointer(path, every=5, thread_name="test-wal")
    for _ in range(4):
        conn.execute("INSERT INTO t VALUES (?)", (bytes(4096),))
        checkpointer.committed()
    assert threads == []  # not yet: 4 commits of 5
    conn.execute("INSERT INTO t VALUES (?)", (bytes(4096),))
    checkpointer.committed()
    checkpointer.close()  # waits for the running checkpoint
    assert checkpointer.checkpoints == 1
    assert len(threads) == 1 and threads[0].startswith("test-wal")
    frames, backfilled = _wal_frames_backfilled(path)
    assert frames > 0 and backfilled == frames
    conn.close()


def test_a_failing_checkpoint_is_not_fatal(tmp_path: Path) -> None:
    checkpointer = WalCheckpointer(tmp_path / "missing-dir" / "db.sqlite3", every=1, thread_name="test-wal")
    checkpointer.committed()  # cannot even open the file
    checkpointer.close()
    assert checkpointer.checkpoints == 0


async def test_wait_lets_a_running_checkpoint_finish(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    conn = _writer(path)
    conn.execute("INSERT INTO t VALUES (?)", (bytes(4096),))
    checkpointer = WalCheckpointer(path, every=1, thread_name="test-wal")
    checkpointer.committed()
    await asyncio.wait_for(checkpointer.wait(), 10)
    assert checkpointer.checkpoints == 1
    checkpointer.close()
    conn.close()


def _page_count(path: Path) -> int:
    probe = sqlite3.connect(path, isolation_level=None)
    try:
        return int(probe.execute("PRAGMA page_count").fetchone()[0])
    finally:
        probe.close()


def test_wal_index_page_count_is_what_sqlite_reports(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    first = _writer(path)
    second = sqlite3.connect(path, isolation_level=None)
    index = WalIndex(path)
    rng = random.Random(7)
    try:
        for i in range(400):
            conn = rng.choice((first, second))
            roll = rng.random()
            if roll < 0.6:
                conn.execute("INSERT INTO t VALUES (?)", (rng.randbytes(rng.randint(1, 6000)),))
            elif roll < 0.85:
                conn.execute("DELETE FROM t WHERE rowid IN (SELECT rowid FROM t ORDER BY random() LIMIT 5)")
            elif roll < 0.9:
                conn.execute("VACUUM")  # rewrites (and usually shrinks) the file
            elif roll < 0.95:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            else:
                conn.execute(rng.choice(("CREATE TABLE IF NOT EXISTS u (x)", "DROP TABLE IF EXISTS u")))
            assert index.page_count() == _page_count(path), f"after step {i}"
    finally:
        first.close()
        second.close()
        index.close()


def test_wal_index_does_not_answer_before_a_commit(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    assert WalIndex(path).page_count() is None  # no file at all
    _writer(path).close()  # the last connection checkpoints and removes the WAL
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("SELECT * FROM t").fetchall()  # a fresh WAL-index, no commit in it yet
    index = WalIndex(path)
    try:
        assert index.page_count() is None  # callers then ask SQLite
        conn.execute("INSERT INTO t VALUES (x'00')")
        assert index.page_count() == _page_count(path)
    finally:
        conn.close()
        index.close()


def test_wal_index_mapping_is_shared_and_closed_by_its_last_user(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    conn = _writer(path)
    conn.execute("INSERT INTO t VALUES (x'00')")
    one, two = WalIndex(path), WalIndex(path)
    try:
        assert one.page_count() == two.page_count() == _page_count(path)
        assert one._map is two._map  # one descriptor per -shm file and process
        one.close()
        conn.execute("INSERT INTO t VALUES (?)", (b"x" * 5000,))
        assert two.page_count() == _page_count(path)  # still mapped for the other user
        mapping = two._map
        two.close()
        assert mapping is not None and mapping.closed
    finally:
        conn.close()


def test_wal_index_never_reads_a_deleted_shm_file(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    conn = _writer(path)
    conn.execute("INSERT INTO t VALUES (x'00')")
    leaked = WalIndex(path)  # a user that never closes
    assert leaked.page_count() == _page_count(path)
    conn.close()  # the last connection removes the -shm file
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("INSERT INTO t VALUES (?)", (b"x" * 20_000,))  # a new -shm file
    fresh = WalIndex(path)
    try:
        assert fresh.page_count() == _page_count(path) != leaked.page_count()
        leaked.close()  # closing the stale user leaves the fresh mapping alone
        assert fresh.page_count() == _page_count(path)
    finally:
        conn.close()
        fresh.close()


def test_bytes_bind_directly_and_unchanged(tmp_path: Path) -> None:
    key = (bytes, sqlite3.PrepareProtocol)
    saved = sqlite3.adapters.pop(key, None)  # the C module's own dict: restored below
    try:
        bind_bytes_directly()
        value = b"\x00\xffpayload"
        assert sqlite3.adapters[key](value) is value
        conn = sqlite3.connect(tmp_path / "b.sqlite3")
        conn.execute("CREATE TABLE t (v BLOB)")
        conn.execute("INSERT INTO t VALUES (?)", (value,))
        assert conn.execute("SELECT v, typeof(v) FROM t").fetchone() == (value, "blob")
        conn.close()
        # An adapter the process registered itself is left alone.
        mine = lambda b: b"mine"  # noqa: E731 - a one-line stand-in
        sqlite3.adapters[key] = mine
        bind_bytes_directly()
        assert sqlite3.adapters[key] is mine
    finally:
        sqlite3.adapters.pop(key, None)
        if saved is not None:
            sqlite3.adapters[key] = saved


@given(prefix=st.text(min_size=1, max_size=4).filter(lambda s: all(not 0xD800 <= ord(c) <= 0xDFFF for c in s)),
       tail=st.text(max_size=3).filter(lambda s: all(not 0xD800 <= ord(c) <= 0xDFFF for c in s)))
def test_prefix_upper_bound_is_above_every_extension(prefix: str, tail: str) -> None:
    bound = prefix_upper_bound(prefix)
    if bound is None:
        assert set(prefix) == {"\U0010ffff"}
        return
    assert (prefix + tail).encode() < bound.encode()
    assert not bound.startswith(prefix)


def test_transaction_commits_or_changes_nothing() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    conn.execute("CREATE TABLE child (parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)")
    with Transaction(conn, "BEGIN IMMEDIATE"):
        conn.execute("INSERT INTO parent VALUES (1)")
    with pytest.raises(KeyError), Transaction(conn):
        conn.execute("INSERT INTO parent VALUES (2)")
        raise KeyError("the block failed")
    # The deferred foreign key fails the COMMIT itself: rolled back too.
    with pytest.raises(sqlite3.IntegrityError), Transaction(conn):
        conn.execute("INSERT INTO parent VALUES (3)")
        conn.execute("INSERT INTO child VALUES (99)")
    assert not conn.in_transaction
    assert [r[0] for r in conn.execute("SELECT id FROM parent")] == [1]
    assert conn.execute("SELECT count(*) FROM child").fetchone()[0] == 0
