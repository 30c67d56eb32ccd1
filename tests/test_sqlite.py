"""Background WAL checkpoints: every N commits, off the writer's thread, never fatal."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from emulator.sqlite import WalCheckpointer, bind_bytes_directly


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
    for i in range(4):
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
