"""The dashboard's D1 query box is read-only on the server, whatever the client sends."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from emulator.bindings.d1.readonly_sql import ReadOnlyQueryError, list_tables, run_query


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "db.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, avatar BLOB);"
        "INSERT INTO users (name, avatar) VALUES ('ada', x'0102'), ('<b>bob</b>', NULL);"
        "CREATE VIEW names AS SELECT name FROM users;"
        "CREATE TABLE _cf_KV (key TEXT);"
    )
    conn.commit()
    conn.close()
    return path


def test_select_returns_columns_rows_and_blob_summary(db: Path) -> None:
    result = run_query(db, "  -- comment\n SELECT id, name, avatar FROM users ORDER BY id;").to_json()
    assert result["columns"] == ["id", "name", "avatar"]
    assert result["rows"] == [[1, "ada", "x'0102' (2 bytes)"], [2, "<b>bob</b>", None]]
    assert result["truncated"] is False


def test_rows_are_capped(db: Path) -> None:
    result = run_query(db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50) "
                           "SELECT i FROM n", max_rows=10)
    assert len(result.rows) == 10 and result.truncated


@pytest.mark.parametrize("sql", [
    "DELETE FROM users",
    "UPDATE users SET name = 'x'",
    "DROP TABLE users",
    "ATTACH DATABASE 'other.db' AS other",
    "PRAGMA journal_mode = DELETE",
    "WITH x AS (SELECT 1) DELETE FROM users",
    "WITH x AS (SELECT 1) INSERT INTO users (name) SELECT 'y' FROM x",
    "SELECT 1; DELETE FROM users",
    "/* SELECT */ DELETE FROM users",
    "",
])
def test_writes_are_refused_and_nothing_changes(db: Path, sql: str) -> None:
    with pytest.raises(ReadOnlyQueryError):
        run_query(db, sql)
    assert run_query(db, "SELECT count(*) FROM users").rows == [[2]]


def test_sql_errors_are_reported_as_messages(db: Path) -> None:
    with pytest.raises(ReadOnlyQueryError, match="no such table"):
        run_query(db, "SELECT * FROM missing")


def test_missing_database_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReadOnlyQueryError, match="does not exist"):
        run_query(tmp_path / "nope.sqlite3", "SELECT 1")
    assert list_tables(tmp_path / "nope.sqlite3") == []
    assert not (tmp_path / "nope.sqlite3").exists()


def test_list_tables_hides_internal_tables(db: Path) -> None:
    tables = {t["name"]: t for t in list_tables(db)}
    assert set(tables) == {"users", "names"}
    assert tables["users"]["rows"] == 2 and tables["names"]["rows"] is None
    assert [c["name"] for c in tables["users"]["columns"]] == ["id", "name", "avatar"]
    assert tables["users"]["columns"][0]["pk"] is True
