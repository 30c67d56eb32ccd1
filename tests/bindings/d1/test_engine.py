"""D1Engine pieces with their own rules: statement splitting, file layout, error text."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from emulator.bindings.d1.engine import D1Engine, D1Error, database_path, split_statements, to_d1_error


@pytest.mark.parametrize("sql, expected", [
    ("SELECT 1", ["SELECT 1"]),
    ("SELECT 1; SELECT 2;", ["SELECT 1;", "SELECT 2;"]),
    ("SELECT 'a;b'; SELECT \"c;d\"", ["SELECT 'a;b';", 'SELECT "c;d"']),
    ("SELECT 'it''s; fine'", ["SELECT 'it''s; fine'"]),
    ("-- leading comment; with semicolon\nSELECT 1; -- trailing", ["-- leading comment; with semicolon\nSELECT 1;"]),
    ("/* a; b */ SELECT [x;y] FROM t", ["/* a; b */ SELECT [x;y] FROM t"]),
    ("-- only\n/* comments */", []),
    ("CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO u VALUES (1); INSERT INTO u VALUES (2); END; SELECT 3",
     ["CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO u VALUES (1); INSERT INTO u VALUES (2); END;", "SELECT 3"]),
    (";;", []),
])
def test_split_statements(sql: str, expected: list[str]) -> None:
    assert split_statements(sql) == expected


def test_database_files_never_escape_the_d1_folder(tmp_path: Path) -> None:
    for name in ("../escape", "a/b", "..", "my/ Database"):
        path = database_path(tmp_path, name)
        assert path.parent == tmp_path and path.suffix == ".sqlite3"


def test_sync_calls_and_wal_mode(tmp_path: Path) -> None:
    engine = D1Engine(tmp_path / "db.sqlite3")
    try:
        results = engine.call_sync(lambda c: engine.script(c, "CREATE TABLE t (a); INSERT INTO t VALUES (1);"))
        assert [r.meta["changes"] for r in results] == [0, 1]
        mode = engine.call_sync(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])
        assert mode == "wal"
        with pytest.raises(D1Error):
            engine.call_sync(lambda c: engine.script(c, "INSERT INTO t VALUES (2); INSERT INTO nope VALUES (3);"))
        assert engine.call_sync(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0]) == 1
    finally:
        engine.close()


def test_error_text_for_plain_sqlite_errors() -> None:
    exc = sqlite3.OperationalError("no such table: x")
    exc.sqlite_errorname = "SQLITE_ERROR"  # type: ignore[attr-defined]
    assert str(to_d1_error(exc)) == "D1_ERROR: no such table: x: SQLITE_ERROR"
