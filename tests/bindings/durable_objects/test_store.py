"""One object's SQLite file (store.py): lazy creation, the implicit transaction, deleteAll."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from emulator.bindings.durable_objects.store import ObjectStore


def test_reading_an_object_that_never_wrote_creates_nothing(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path / "ns" / ("a" * 64 + ".sqlite3"))
    assert store.get("k") is None and store.list(None, None, False, None) == [] and store.count() == 0
    assert store.delete("k") is False and store.get_many(["a", "b"]) == []
    assert not store.path.exists()
    store.put("k", b"sv")
    store.commit()
    assert store.path.exists() and store.get("k") == b"sv"
    store.close()


def test_writes_wait_in_one_transaction_until_commit(tmp_path: Path) -> None:
    dirty: list[int] = []
    store = ObjectStore(tmp_path / "o.sqlite3", lambda: dirty.append(1))
    store.put("a", b"1")
    store.put_many([("b", b"2"), ("c", b"3")])
    assert dirty == [1]  # one transaction, opened once
    other = sqlite3.connect(tmp_path / "o.sqlite3")
    assert other.execute("SELECT count(*) FROM sqlite_master WHERE name = '_cf_KV'").fetchone()[0] == 0
    store.commit()
    assert other.execute("SELECT count(*) FROM _cf_KV").fetchone()[0] == 3
    store.put("d", b"4")
    store.rollback()
    assert store.get("d") is None and store.count() == 3
    other.close()
    store.close()


def test_delete_all_drops_tables_views_virtual_tables_and_kv(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path / "o.sqlite3")
    conn = store.begin()
    for sql in ("CREATE TABLE t (x)", "CREATE INDEX t_x ON t(x)", "CREATE VIEW v AS SELECT x FROM t",
                "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END", "CREATE VIRTUAL TABLE f USING fts5(body)",
                "INSERT INTO t VALUES (1)", "INSERT INTO f VALUES ('words')"):
        conn.execute(sql)
    store.put("k", b"sv")
    store.delete_all()
    store.commit()
    assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []
    assert store.get("k") is None
    store.put("k2", b"sv")  # the KV table comes back on the next put
    assert store.get("k2") == b"sv"
    store.close()


def test_list_ranges_in_utf8_order(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path / "o.sqlite3")
    for key in ("b", "a", "é", "Z", "😀", "aa"):
        store.put(key, key.encode())
    assert [k for k, _ in store.list(None, None, False, None)] == ["Z", "a", "aa", "b", "é", "😀"]
    assert [k for k, _ in store.list("a", "b", True, None)] == ["aa", "a"]
    assert [k for k, _ in store.list("a", None, False, 2)] == ["a", "aa"]
    store.close()
