"""What production D1 refuses is refused on every path that runs SQL (docs/d1.md)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from emulator.bindings.d1.authorizer import (
    ALLOWED_FUNCTIONS,
    Authorizer,
    authorize,
    callback_for,
)
from emulator.bindings.d1.config import d1_config
from emulator.bindings.d1.errors import D1Error
from emulator.bindings.d1.migrations import (
    MigrationError,
    apply_migrations,
    strip_dump_transaction,
)
from emulator.platform import Platform

REFUSED = [
    "ATTACH DATABASE '{elsewhere}' AS other",
    "DETACH DATABASE main",
    "BEGIN", "BEGIN TRANSACTION", "BEGIN IMMEDIATE", " BEGIN IMMEDIATE", "COMMIT", "END", "ROLLBACK",
    "SAVEPOINT s", "RELEASE s",
    "PRAGMA journal_mode", "PRAGMA journal_mode = DELETE", "PRAGMA locking_mode = EXCLUSIVE",
    "PRAGMA writable_schema = 1", "PRAGMA page_count", "PRAGMA page_size = 512",
    "PRAGMA foreign_keys = maybe", "PRAGMA optimize = lots", "PRAGMA cache_size = 1",
    "PRAGMA main.synchronous = OFF", "SELECT * FROM pragma_journal_mode",
    "CREATE TABLE _cf_mine (a)", "CREATE TABLE _CF_Mine (a)", "CREATE INDEX _cf_i ON users (name)",
    "CREATE TEMP TABLE scratch (a)", "CREATE TEMP VIEW v AS SELECT 1",
    "CREATE VIRTUAL TABLE s USING dbstat",
    "SELECT sqlite_version()", "SELECT sqlite_source_id()", "SELECT load_extension('x')",
    "VACUUM",  # SQLite vacuums through an attached database
]


async def seed(db: Any) -> None:
    await db.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    await db.prepare("INSERT INTO users (name) VALUES (?)").bind("ada").run()


@pytest.mark.parametrize("sql", REFUSED)
async def test_refused_statements_fail_and_change_nothing(db: Any, tmp_path: Path, sql: str) -> None:
    await seed(db)
    elsewhere = tmp_path / "elsewhere.sqlite3"
    with pytest.raises(D1Error, match=r"not authorized|authorization denied"):
        await db.prepare(sql.format(elsewhere=elsewhere)).run()
    assert not elsewhere.exists()
    # Nothing is left half done: no transaction open, the data is intact, writes still work.
    await db.prepare("INSERT INTO users (name) VALUES ('bob')").run()
    names = await db.prepare("SELECT name FROM users ORDER BY id").raw()
    assert names == [["ada"], ["bob"]]


async def test_refused_in_batch_exec_and_multi_statement_prepare(db: Any, tmp_path: Path) -> None:
    await seed(db)
    attach = f"ATTACH DATABASE '{tmp_path / 'x.sqlite3'}' AS x"
    with pytest.raises(D1Error, match="not authorized"):
        await db.batch([db.prepare("INSERT INTO users (name) VALUES ('lost')"), db.prepare(attach)])
    with pytest.raises(D1Error, match="not authorized"):
        await db.exec(f"INSERT INTO users (name) VALUES ('lost')\n{attach}")
    with pytest.raises(D1Error, match="not authorized"):
        await db.prepare(f"INSERT INTO users (name) VALUES ('lost'); {attach}").run()
    assert await db.prepare("SELECT count(*) AS n FROM users").first("n") == 1  # all rolled back
    assert not (tmp_path / "x.sqlite3").exists()


async def test_the_engines_own_transactions_stay_out_of_reach(db: Any) -> None:
    """The engine runs BEGIN/COMMIT and PRAGMA page_count trusted; an app sending the same
    text must not reuse those compiled statements from SQLite's statement cache."""
    await seed(db)
    await db.batch([db.prepare("INSERT INTO users (name) VALUES ('b')")])  # engine: BEGIN, COMMIT
    for text in ("BEGIN IMMEDIATE", " BEGIN IMMEDIATE", "COMMIT", "PRAGMA page_count"):
        with pytest.raises(D1Error, match="not authorized"):
            await db.prepare(text).run()
        with pytest.raises(D1Error, match="not authorized"):
            await db.batch([db.prepare(text)])
    result = await db.prepare("INSERT INTO users (name) VALUES ('c')").run()
    assert result.meta.size_after > 0  # measured with the engine's own PRAGMA


@pytest.mark.parametrize("sql", [
    "PRAGMA table_list", "PRAGMA table_info(users)", "PRAGMA table_xinfo('users')",
    "PRAGMA index_list(users)", "PRAGMA foreign_key_list(users)", "PRAGMA foreign_key_check",
    "PRAGMA foreign_keys", "PRAGMA foreign_keys = OFF", "PRAGMA defer_foreign_keys = 'on'",
    "PRAGMA case_sensitive_like = true", "PRAGMA recursive_triggers = 0", "PRAGMA quick_check",
    "PRAGMA quick_check(5)", "PRAGMA optimize", "PRAGMA optimize = 2",
    "PRAGMA data_version", "PRAGMA page_size",
    "SELECT * FROM pragma_table_info('users')",
    "SELECT upper(name), length(name), json_extract('{\"a\": 1}', '$.a'), '{\"a\": 2}' ->> '$.a' FROM users",
    "SELECT datetime('now') IS NOT NULL, CURRENT_TIMESTAMP IS NOT NULL, 'a' LIKE 'A', iif(1, 2, 3)",
    "SELECT row_number() OVER (ORDER BY id), group_concat(name) OVER () FROM users",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3) SELECT sum(x) FROM c",
    "SELECT name, sql FROM sqlite_master",
    "CREATE VIRTUAL TABLE docs USING fts5(body)", "CREATE VIRTUAL TABLE boxes USING rtree(id, x0, x1)",
    "ALTER TABLE users ADD COLUMN email TEXT", "ALTER TABLE users RENAME TO people",
    "CREATE INDEX names ON users (name)", "ANALYZE", "REINDEX",
    "CREATE TRIGGER t AFTER INSERT ON users BEGIN UPDATE users SET name = upper(new.name) "
    "WHERE id = new.id; END",
])
async def test_what_d1_allows_still_runs(db: Any, sql: str) -> None:
    await seed(db)
    await db.prepare(sql).all()


async def test_fts5_and_triggers_work_end_to_end(db: Any) -> None:
    await seed(db)
    await db.exec("CREATE VIRTUAL TABLE docs USING fts5(body)")
    await db.prepare("INSERT INTO docs VALUES (?)").bind("hello world").run()
    hit = await db.prepare("SELECT highlight(docs, 0, '[', ']') AS h FROM docs WHERE docs MATCH 'hello'").first("h")
    assert hit == "[hello] world"
    await db.prepare("CREATE TRIGGER up AFTER INSERT ON users BEGIN UPDATE users SET name = upper(new.name) "
                     "WHERE id = new.id; END").run()
    await db.prepare("INSERT INTO users (name) VALUES ('eve')").run()
    assert await db.prepare("SELECT name FROM users WHERE id = 2").first("name") == "EVE"


async def test_cf_tables_are_d1s_own(platform: Platform, db: Any) -> None:
    await seed(db)
    path = platform.plugin("d1").database_path("main-db")  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
    with contextlib.closing(sqlite3.connect(path)) as conn:  # what D1 keeps for itself
        conn.execute("CREATE TABLE _cf_KV (key TEXT PRIMARY KEY, value BLOB)")
        conn.commit()
    for sql in ("SELECT * FROM _cf_KV", "INSERT INTO _cf_KV VALUES ('k', 'v')", "DELETE FROM _cf_kv",
                "DROP TABLE _cf_KV", "PRAGMA table_info(_cf_KV)", "PRAGMA index_list('_cf_KV')",
                "CREATE INDEX mine ON _cf_KV (value)"):
        # SQLite words a refused column read its own way; the code is SQLITE_AUTH either way.
        with pytest.raises(D1Error, match=r"(not authorized|is prohibited): SQLITE_AUTH"):
            await db.prepare(sql).all()


async def test_migrations_follow_the_same_rules(platform: Platform, db: Any, tmp_path: Path) -> None:
    binding = d1_config(platform.apps[0]).databases[0]
    folder = binding.migrations_dir
    folder.mkdir(parents=True)
    (folder / "0001_ok.sql").write_text("CREATE TABLE a (x);")
    target = tmp_path / "planted.sqlite3"
    (folder / "0002_attach.sql").write_text(f"CREATE TABLE b (x);\nATTACH DATABASE '{target}' AS p;")
    with pytest.raises(MigrationError, match="not authorized"):
        await apply_migrations(platform, binding)
    assert not target.exists()
    names = await db.prepare("SELECT name FROM d1_migrations").raw()
    assert names == [["0001_ok.sql"]]  # the refused one left no trace
    assert await db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'b'").first("n") == 0


async def test_a_sqlite_dump_wrapping_transaction_is_stripped_like_wrangler(
        platform: Platform, db: Any) -> None:
    binding = d1_config(platform.apps[0]).databases[0]
    binding.migrations_dir.mkdir(parents=True)
    (binding.migrations_dir / "0001_dump.sql").write_text(
        "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE t (a);\nINSERT INTO t VALUES (1);\nCOMMIT;\n")
    assert await apply_migrations(platform, binding) == ["0001_dump.sql"]
    assert await db.prepare("SELECT a FROM t").first("a") == 1
    with pytest.raises(D1Error, match="contains several transactions"):
        strip_dump_transaction("BEGIN TRANSACTION; SELECT 1; COMMIT; BEGIN TRANSACTION; SELECT 2; COMMIT;")


@pytest.mark.parametrize("action, arg1, arg2, db, allowed", [
    (sqlite3.SQLITE_ATTACH, "/tmp/x.db", None, None, False),
    (sqlite3.SQLITE_DETACH, "main", None, None, False),
    (sqlite3.SQLITE_READ, "users", "name", "other", False),     # an attached schema
    (sqlite3.SQLITE_READ, "scratch", "a", "temp", True),
    (sqlite3.SQLITE_INSERT, "scratch", None, "temp", False),
    (sqlite3.SQLITE_TRANSACTION, "BEGIN", None, None, False),
    (sqlite3.SQLITE_SAVEPOINT, "BEGIN", "s", None, False),
    (sqlite3.SQLITE_PRAGMA, "table_info", None, None, False),    # needs a table name
    (sqlite3.SQLITE_PRAGMA, "page_size", "4096", None, False),   # reading only
    (sqlite3.SQLITE_PRAGMA, "quick_check", "_cf_KV", None, False),
    (sqlite3.SQLITE_PRAGMA, "optimize", "99999999999", None, False),
    (sqlite3.SQLITE_PRAGMA, "FOREIGN_KEYS", "Yes", None, True),
    (sqlite3.SQLITE_ALTER_TABLE, "main", "_cf_KV", None, False),
    (sqlite3.SQLITE_CREATE_VTABLE, "v", "FTS5", None, True),
    (sqlite3.SQLITE_FUNCTION, None, "sqlite_compileoption_used", None, False),
])
def test_authorizer_rules(action: int, arg1: str | None, arg2: str | None, db: str | None,
                          allowed: bool) -> None:
    expected = sqlite3.SQLITE_OK if allowed else sqlite3.SQLITE_DENY
    assert authorize(action, arg1, arg2, db, None) == expected


def test_function_list_holds_what_apps_use() -> None:
    assert {"json_extract", "->>", "unixepoch", "count", "bm25", "sqlite_rename_table"} <= ALLOWED_FUNCTIONS
    assert not {"sqlite_version", "sqlite_compileoption_get", "readfile", "edit"} & ALLOWED_FUNCTIONS


def test_the_connection_callback_agrees_with_authorize() -> None:
    """The callback inlines ``authorize``'s common cases; both must decide alike."""
    actions = [getattr(sqlite3, name) for name in dir(sqlite3)
               if name.startswith("SQLITE_") and name not in ("SQLITE_OK", "SQLITE_DENY", "SQLITE_IGNORE")
               and isinstance(getattr(sqlite3, name), int) and getattr(sqlite3, name) < 40]
    names = [None, "users", "_cf_KV", "_CF_x", "_private", "main", "temp", "json_extract", "sqlite_version",
             "foreign_keys", "on", "fts5", "dbstat", "table_info"]
    switch = Authorizer()
    callback = callback_for(switch)
    for action in actions:
        for arg1 in names:
            for arg2 in names:
                for db in (None, "main", "temp", "other"):
                    assert callback(action, arg1, arg2, db, None) == authorize(action, arg1, arg2, db, None), \
                        (action, arg1, arg2, db)
    switch.trusted = True
    assert callback(sqlite3.SQLITE_ATTACH, "/tmp/x", None, None, None) == sqlite3.SQLITE_OK
