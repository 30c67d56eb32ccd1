"""D1Engine pieces with their own rules: statement splitting, file layout, error text."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from emulator.bindings.d1.engine import (
    D1Engine,
    D1Error,
    database_path,
    split_statements,
    to_d1_error,
)


@pytest.mark.parametrize("sql, expected", [
    ("SELECT 1", ["SELECT 1"]),
    ("SELECT 1; SELECT 2;", ["SELECT 1;", "SELECT 2;"]),
    ("SELECT 'a;b'; SELECT \"c;d\"", ["SELECT 'a;b';", 'SELECT "c;d"']),
    ("SELECT 'it''s; fine'", ["SELECT 'it''s; fine'"]),
    ("-- leading comment; with semicolon\nSELECT 1; -- trailing", ["-- leading comment; with semicolon\nSELECT 1;"]),
    ("/* a; b */ SELECT [x;y] FROM t", ["/* a; b */ SELECT [x;y] FROM t"]),
    ("-- only\n/* comments */", []),
    ("CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO u VALUES (1); INSERT INTO u VALUES (2); END; SELECT 3",
     ["CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO u VALUES (1); INSERT INTO u VALUES (2); END;",
      "SELECT 3"]),
    (";;", []),
])
def test_split_statements(sql: str, expected: list[str]) -> None:
    assert split_statements(sql) == expected


def test_long_sql_texts_are_split_correctly_but_not_kept() -> None:
    from emulator.bindings.d1 import engine as d1

    values = ", ".join(f"({n}, 'row; {n}')" for n in range(2_000))  # an import with inlined values
    long_sql = f"INSERT INTO t VALUES {values}; SELECT 1"
    assert len(long_sql) > d1.CACHED_TEXT_MAX
    assert split_statements(long_sql) == [f"INSERT INTO t VALUES {values};", "SELECT 1"]
    assert long_sql not in d1._SPLIT_CACHE and not d1._is_read_only(long_sql)
    assert long_sql not in d1._READ_ONLY_CACHE
    split_statements("SELECT 2")
    assert "SELECT 2" in d1._SPLIT_CACHE  # short texts are


def test_database_files_never_escape_the_d1_folder(tmp_path: Path) -> None:
    for name in ("../escape", "a/b", "..", "my/ Database"):
        path = database_path(tmp_path, name)
        assert path.parent == tmp_path and path.suffix == ".sqlite3"


def test_sync_calls_and_wal_mode(tmp_path: Path) -> None:
    engine = D1Engine(tmp_path / "db.sqlite3")
    try:
        results = engine.call_sync(lambda c: engine.script(c, "CREATE TABLE t (a); INSERT INTO t VALUES (1);"))
        assert [r.meta["changes"] for r in results] == [0, 1]
        # Read through a connection of our own: D1 refuses the PRAGMA to application SQL.
        with contextlib.closing(sqlite3.connect(tmp_path / "db.sqlite3")) as other:
            assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        with pytest.raises(D1Error):
            engine.call_sync(lambda c: engine.script(c, "INSERT INTO t VALUES (2); INSERT INTO nope VALUES (3);"))
        assert engine.call_sync(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0]) == 1
    finally:
        engine.close()


def test_error_text_for_plain_sqlite_errors() -> None:
    exc = sqlite3.OperationalError("no such table: x")
    exc.sqlite_errorname = "SQLITE_ERROR"
    assert str(to_d1_error(exc)) == "D1_ERROR: no such table: x: SQLITE_ERROR"


async def test_fast_path_interruptions_rerun_on_the_worker_exactly_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from emulator.bindings.d1 import engine as engine_module
    from emulator.bindings.d1.binding import D1Database

    monkeypatch.setattr(engine_module, "FAST_PATH_BUDGET", 0.0)  # every fast attempt runs out
    engine = D1Engine(tmp_path / "fast.sqlite3")
    db = D1Database(engine, "fast")
    worker_calls = 0
    original_call = engine.call

    async def counting_call(fn: Any) -> Any:
        nonlocal worker_calls
        worker_calls += 1
        return await original_call(fn)

    monkeypatch.setattr(engine, "call", counting_call)
    try:
        await db.exec("CREATE TABLE n (v INTEGER)")
        worker_calls = 0
        heavy = ("INSERT INTO n WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                 "WHERE x < 20000) SELECT x FROM c")
        result = await db.prepare(heavy).run()
        assert result.meta.changes == 20000
        assert worker_calls == 1  # interrupted on the loop, re-run on the worker
        for i in range(50):
            await db.prepare("INSERT INTO n VALUES (?)").bind(-i).run()
        assert await db.prepare("SELECT count(*) AS c FROM n").first("c") == 20050
        big = await db.prepare("SELECT v FROM n ORDER BY v DESC").raw()
        assert len(big) == 20050 and big[0] == [20000]
    finally:
        engine.close()
