"""D1Database through its public API: docs/d1.md, "The binding" and "Results and types"."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.bindings.d1.errors import D1Error
from emulator.platform import Platform
from tests.helpers.apps import d1_app, d1_binding
from tests.helpers.fuzz import fuzz_settings


async def seed(db: Any) -> None:
    await db.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, ok INTEGER, data BLOB)")
    await db.batch([db.prepare("INSERT INTO users (name) VALUES (?)").bind(n) for n in ("a", "b", "c")])


async def test_meta_values_match_d1(db: Any) -> None:
    await seed(db)
    selected = await db.prepare("SELECT * FROM users").all()
    assert selected.success is True and len(selected.results) == 3
    meta = selected.meta
    assert meta.served_by == "miniflare.db"
    assert isinstance(meta.duration, float) and meta.duration >= 0
    assert (meta.rows_read, meta.rows_written, meta.changes, meta.changed_db) == (3, 0, 0, False)
    assert meta.size_after > 0

    returning = await db.prepare("INSERT INTO users (name) VALUES (?) RETURNING *").bind("d").run()
    assert returning.results == [{"id": 4, "name": "d", "ok": None, "data": None}]
    m = returning.meta
    assert (m.changes, m.last_row_id, m.rows_read, m.rows_written, m.changed_db) == (1, 4, 2, 1, True)

    plain = await db.prepare("INSERT INTO users (name) VALUES ('e')").run()
    assert plain.results == []
    assert (plain.meta.changes, plain.meta.rows_read, plain.meta.rows_written, plain.meta.last_row_id) == (1, 1, 1, 5)
    updated = await db.prepare("UPDATE users SET ok = 1 WHERE id <= 2").run()
    assert updated.meta.changes == 2 and updated.meta.rows_written == 2
    assert updated["meta"]["changed_db"] is True  # dict access works as well as attributes


async def test_first_and_raw(db: Any) -> None:
    await seed(db)
    row = await db.prepare("SELECT id, name FROM users WHERE id = ?").bind(2).first()
    assert row == {"id": 2, "name": "b"} and row.name == "b"
    assert await db.prepare("SELECT name FROM users ORDER BY id").first("name") == "a"
    assert await db.prepare("SELECT * FROM users WHERE id = 99").first() is None
    assert await db.prepare("SELECT name FROM users WHERE id = 99").first("name") is None
    with pytest.raises(D1Error) as info:
        await db.prepare("SELECT name FROM users").first("missing")
    assert str(info.value) == "D1_COLUMN_NOTFOUND: Column not found (missing)"
    assert await db.prepare("SELECT id, name FROM users ORDER BY id").raw() == [[1, "a"], [2, "b"], [3, "c"]]
    raw = await db.prepare("SELECT 1 AS a, 2 AS b, 3 AS c, 4 AS c, 5 AS d, 6 AS e").raw(columnNames=True)
    assert raw == [["a", "b", "c", "c", "d", "e"], [1, 2, 3, 4, 5, 6]]
    assert await db.prepare("SELECT 1 AS x").raw({"columnNames": True}) == [["x"], [1]]


async def test_bind_type_mapping(db: Any) -> None:
    await seed(db)
    stmt = db.prepare("INSERT INTO users (name, ok, data) VALUES (?, ?, ?) RETURNING ok, data, name")
    row = (await stmt.bind(None, True, b"Wa").all()).results[0]
    assert row == {"ok": 1, "data": [87, 97], "name": None}
    row = (await stmt.bind("x", False, [1, 2, 255]).all()).results[0]
    assert row == {"ok": 0, "data": [1, 2, 255], "name": "x"}
    row = (await stmt.bind(1.5, 2**62, bytearray(b"\x00")).all()).results[0]
    assert row == {"ok": 2**62, "data": [0], "name": "1.5"}
    numbered = await db.prepare("SELECT ?2 AS two, ?1 AS one").bind("a", "b").first()
    assert numbered == {"two": "b", "one": "a"}
    with pytest.raises(D1Error) as info:
        db.prepare("SELECT ?").bind({"a": 1})
    assert str(info.value) == "D1_TYPE_ERROR: Type 'object' not supported for value '[object Object]'"
    with pytest.raises(D1Error) as info:
        db.prepare("SELECT ?").bind(2**70)
    assert str(info.value) == f"D1_TYPE_ERROR: Type 'bigint' not supported for value '{2**70}'"


async def test_errors(db: Any) -> None:
    with pytest.raises(D1Error) as info:
        await db.prepare("PUT something").run()
    assert str(info.value) == 'D1_ERROR: near "PUT": syntax error: SQLITE_ERROR'
    assert str(info.value.cause) == 'near "PUT": syntax error'
    await db.exec("CREATE TABLE p (id INTEGER PRIMARY KEY)")
    await db.exec("CREATE TABLE c (pid INTEGER REFERENCES p(id))")
    with pytest.raises(D1Error) as info:
        await db.prepare("INSERT INTO c VALUES (7)").run()
    assert str(info.value) == ("D1_ERROR: FOREIGN KEY constraint failed: SQLITE_CONSTRAINT "
                               "(extended: SQLITE_CONSTRAINT_FOREIGNKEY)")
    with pytest.raises(D1Error) as info:
        await db.prepare("-- only a comment\n/* and another */").all()
    assert str(info.value) == "D1_ERROR: No SQL statements detected."
    with pytest.raises(D1Error, match=r"^D1_ERROR: Wrong number of parameter bindings"):
        await db.prepare("SELECT ?, ?").bind(1).all()


async def test_multiple_statements_in_one_prepare(db: Any) -> None:
    result = await db.prepare("CREATE TABLE t (a); INSERT INTO t VALUES (1); SELECT a FROM t;").all()
    assert result.results == [{"a": 1}]
    got = await db.prepare("INSERT INTO t VALUES (2); SELECT a FROM t WHERE a = ?").bind(2).all()
    assert got.results == [{"a": 2}]
    with pytest.raises(D1Error) as info:
        await db.prepare("INSERT INTO t VALUES (?); SELECT 1").bind(3).all()
    assert str(info.value) == ("D1_ERROR: When executing multiple SQL statements in a single call, "
                               "only the last statement can have parameters.")


async def test_batch_is_one_transaction(db: Any) -> None:
    await seed(db)
    results = await db.batch([
        db.prepare("INSERT INTO users (name) VALUES (?)").bind("d"),
        db.prepare("SELECT count(*) AS n FROM users"),
    ])
    assert results[0].results == [] and results[0].meta.changes == 1
    assert results[1].results == [{"n": 4}]
    with pytest.raises(D1Error, match=r"^D1_ERROR: UNIQUE constraint failed: users\.id"):
        await db.batch([
            db.prepare("INSERT INTO users (id, name) VALUES (10, 'x')"),
            db.prepare("INSERT INTO users (id, name) VALUES (10, 'dup')"),
        ])
    assert await db.prepare("SELECT count(*) AS n FROM users").first("n") == 4  # rolled back
    with pytest.raises(TypeError):
        await db.batch(["SELECT 1"])


async def test_batch_meta_matches_single_runs_and_allows_multi_statement_prepare(db: Any) -> None:
    await seed(db)
    single = await db.prepare("INSERT INTO users (name) VALUES (?)").bind("d").run()
    batched = await db.batch([
        db.prepare("INSERT INTO users (name) VALUES (?)").bind("e"),
        # several statements in one prepare run inside the batch's transaction
        db.prepare("INSERT INTO users (name) VALUES ('f'); SELECT count(*) AS n FROM users"),
    ])
    for key in ("changes", "rows_written", "changed_db"):
        assert batched[0].meta[key] == single.meta[key], key
    assert batched[0].meta.last_row_id == single.meta.last_row_id + 1
    assert batched[1].results == [{"n": 6}]


async def test_exec(db: Any) -> None:
    result = await db.exec("CREATE TABLE e (a);\nINSERT INTO e VALUES (1); INSERT INTO e VALUES (2);\n"
                           "INSERT INTO e VALUES (3)")
    assert result.count == 3 and result.duration >= 0
    assert await db.prepare("SELECT count(*) AS n FROM e").first("n") == 3
    with pytest.raises(D1Error) as info:
        await db.exec("INSERT INTO e VALUES (4)\nINSERT INTO nope VALUES (5)")
    assert str(info.value) == ("D1_EXEC_ERROR: Error in line 2: INSERT INTO nope VALUES (5): "
                               "no such table: nope: SQLITE_ERROR")
    assert await db.prepare("SELECT count(*) AS n FROM e").first("n") == 3  # atomic


async def test_dump_returns_the_database_file(db: Any) -> None:
    await seed(db)
    data = await db.dump()
    assert data.startswith(b"SQLite format 3\x00")


async def test_with_session(db: Any) -> None:
    session = db.withSession("first-primary")
    assert await session.prepare("SELECT 1 AS one").first("one") == 1
    assert isinstance(session.getBookmark(), str)


async def test_databases_are_shared_by_name_and_ids_may_be_odd(tmp_path: Path) -> None:
    shared = d1_binding(tmp_path, "DB", "shared")
    apps = [d1_app(tmp_path, "web", shared),
            d1_app(tmp_path, "worker", d1_binding(tmp_path, "STORE", "shared"),
                     d1_binding(tmp_path, "ODD", "my/ Database"))]
    p = Platform(apps, tmp_path / "state", s3_port=None)
    await p.start()
    try:
        await p.env_for(apps[0]).DB.exec("CREATE TABLE s (v TEXT)")
        await p.env_for(apps[0]).DB.prepare("INSERT INTO s VALUES ('hi')").run()
        assert await p.env_for(apps[1]).STORE.prepare("SELECT v FROM s").first("v") == "hi"
        await p.env_for(apps[1]).ODD.exec("CREATE TABLE o (x)")
        d1_dir = tmp_path / "state" / "d1"
        files = sorted(f.name for f in d1_dir.iterdir() if f.suffix == ".sqlite3")
        assert files == ["my%2F%20Database.sqlite3", "shared.sqlite3"]
        plugin = p.plugin("d1")
        assert plugin.database("STORE") is plugin.database("shared")  # type: ignore[attr-defined]  # the d1 plugin's own method
    finally:
        await p.stop()


async def test_a_slow_query_does_not_stall_the_loop(db: Any) -> None:
    slow = db.prepare("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 600000)"
                      " SELECT count(*) AS n FROM c")
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    try:
        assert await slow.first("n") == 600000
    finally:
        task.cancel()
    elapsed = time.perf_counter() - started
    assert elapsed > 0.05  # it really was slow ...
    assert len(gaps) >= 3 and max(gaps) < 0.25  # ... and the loop kept running meanwhile


async def test_statements_queued_behind_a_slow_one_keep_their_order(db: Any) -> None:
    await db.exec("CREATE TABLE o (v INTEGER)")
    slow = db.prepare("INSERT INTO o SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                      "SELECT x + 1 FROM c WHERE x < 200000) SELECT x FROM c)")
    first = asyncio.create_task(slow.run())
    await asyncio.sleep(0)
    fast = await db.prepare("INSERT INTO o VALUES (1) RETURNING rowid").first("rowid")
    await first
    assert fast == 2  # ran after the slow insert, in submission order


CHILD = textwrap.dedent('''
    import asyncio, sys
    from pathlib import Path
    from emulator.config.model import AppConfig
    from tests.helpers.apps import D1DatabaseBinding, app_config
    from emulator.platform import Platform

    async def main() -> None:
        root = Path(sys.argv[1])
        db = D1DatabaseBinding("DB", "main-db", None, root / "migrations")
        app = app_config(config_path=root / "app" / "wrangler.toml", kind="worker", name="app",
                        d1_databases=(db,))
        p = Platform([app], root / "state", s3_port=None)
        await p.start()
        d = p.env_for(app).DB
        await d.exec("CREATE TABLE k (id INTEGER PRIMARY KEY, v BLOB)")
        for i in range(50):
            await d.prepare("INSERT INTO k (v) VALUES (?)").bind(bytes([i]) * 10).run()
        await d.batch([d.prepare("INSERT INTO k (v) VALUES (?)").bind(b"b") for _ in range(10)])
        print("READY", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
''')


async def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE,
                            cwd=Path(__file__).resolve().parents[3])
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"READY"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    app = d1_app(tmp_path)
    p = Platform([app], tmp_path / "state", s3_port=None)
    await p.start()
    try:
        d = p.env_for(app).DB
        assert await d.prepare("SELECT count(*) AS n FROM k").first("n") == 60
        assert await d.prepare("SELECT v FROM k WHERE id = 50").first("v") == [49] * 10
    finally:
        await p.stop()


def test_results_are_json_serialisable(tmp_path: Path) -> None:
    async def go() -> str:
        p = Platform([d1_app(tmp_path)], tmp_path / "state", s3_port=None)
        await p.start()
        try:
            d = p.env_for(p.apps[0]).DB
            return json.dumps(await d.prepare("SELECT x'00ff' AS b, 1 AS i").all())
        finally:
            await p.stop()

    assert '"b": [0, 255]' in asyncio.run(go())


async def test_changes_of_cte_writes_and_ddl(db: Any) -> None:
    await seed(db)
    cte = await db.prepare("WITH n(v) AS (SELECT 'x' UNION ALL SELECT 'y') "
                           "INSERT INTO users (name) SELECT v FROM n").run()
    assert cte.meta.changes == 2 and cte.meta.rows_written == 2
    ddl = await db.prepare("CREATE TABLE other (a)").run()
    assert ddl.meta.changes == 0 and ddl.meta.changed_db is True  # the file grew


def _file_size(platform: Platform) -> int:
    """The database size as SQLite itself reports it, on a connection of its own."""
    import sqlite3

    probe = sqlite3.connect(platform.plugin("d1").database_path("main-db"),  # type: ignore[attr-defined]  # the d1 plugin's
                            isolation_level=None)
    try:
        (pages,) = probe.execute("PRAGMA page_count").fetchone()
        (page_size,) = probe.execute("PRAGMA page_size").fetchone()
        return int(pages) * int(page_size)
    finally:
        probe.close()


async def test_size_after_is_the_database_size_after_every_kind_of_statement(
        platform: Platform, db: Any) -> None:
    await seed(db)
    blob = db.prepare("INSERT INTO users (name, data) VALUES (?, ?)")
    steps = [
        lambda: blob.bind("big", b"x" * 50_000).run(),                       # fast path
        lambda: db.prepare("SELECT count(*) AS n FROM users").all(),          # a read
        lambda: db.batch([blob.bind(f"b{i}", b"y" * 9000) for i in range(5)]),  # worker
        lambda: db.prepare("DELETE FROM users WHERE data IS NOT NULL").run(),
        lambda: db.prepare("CREATE INDEX names ON users (name)").run(),
    ]
    for step in steps:
        result = await step()
        last = result[-1] if isinstance(result, list) else result
        assert last.meta.size_after == _file_size(platform)
    # first() reports no meta, but the size it leaves behind keeps the next one exact.
    await blob.bind("again", b"z" * 30_000).first()
    read = await db.prepare("SELECT 1 AS one").all()
    assert read.meta.size_after == _file_size(platform) and read.meta.changed_db is False


async def test_size_after_is_exact_after_a_restart(tmp_path: Path) -> None:
    for _ in range(2):  # the second round opens the file with a fresh, empty WAL
        p = Platform([d1_app(tmp_path)], tmp_path / "state", s3_port=None)
        await p.start()
        try:
            db = p.env_for(p.apps[0]).DB
            await db.exec("CREATE TABLE IF NOT EXISTS t (v BLOB)")
            before = await db.prepare("SELECT count(*) AS n FROM t").all()
            assert before.meta.size_after == _file_size(p)
            written = await db.prepare("INSERT INTO t VALUES (?)").bind(b"v" * 40_000).run()
            assert written.meta.size_after == _file_size(p) > before.meta.size_after
            assert written.meta.changed_db is True
        finally:
            await p.stop()


@pytest.mark.parametrize("pragma", ["PRAGMA journal_mode = DELETE", "pragma main.JOURNAL_MODE=off",
                                    "PRAGMA locking_mode = EXCLUSIVE"])
async def test_journal_and_locking_mode_cannot_be_changed(db: Any, pragma: str) -> None:
    with pytest.raises(D1Error) as info:
        await db.prepare(pragma).run()
    assert str(info.value) == "D1_ERROR: not authorized: SQLITE_AUTH"
    with pytest.raises(D1Error, match="not authorized"):
        await db.batch([db.prepare(pragma)])
    # D1's PRAGMA list has neither, so even reading them is refused.
    with pytest.raises(D1Error, match="not authorized"):
        await db.prepare("PRAGMA journal_mode").first("journal_mode")


async def test_statements_are_immutable_so_prepare_can_share_them(db: Any) -> None:
    await seed(db)
    text = "SELECT name FROM users WHERE id = ?"
    stmt = db.prepare(text)
    assert db.prepare(text) is stmt  # same text, same (unbound) statement
    bound = stmt.bind(2)
    assert (stmt.sql, stmt.params, bound.sql, bound.params) == (text, (), text, (2,))
    for attribute in ("sql", "params"):
        with pytest.raises(AttributeError):
            setattr(stmt, attribute, "changed")
    assert await bound.first("name") == "b"
    assert await db.prepare(text).bind(3).first("name") == "c"  # the shared one is unbound
    for bad in (None, 42, ["SELECT 1"], b"SELECT 1"):
        with pytest.raises(TypeError, match="prepare\\(\\) expects the SQL text as a string"):
            db.prepare(bad)


async def test_results_are_shaped_as_the_sdk_hands_them_to_python(db: Any) -> None:
    # workers-runtime-sdk converts D1's JS result: objects -> dicts with attribute access,
    # arrays -> lists (docs/python-workers.md "Binding results"). Pre-SDK code calls
    # `.to_py()` on them: it still works outside --strict-runtime (ConvertedList).
    from emulator.jsobject import ConvertedList, JsObject

    await seed(db)
    for result in (await db.prepare("SELECT * FROM users").all(), await db.prepare("SELECT 1 WHERE 0").all(),
                   *(await db.batch([db.prepare("SELECT name FROM users"), db.prepare("SELECT 2")]))):
        assert isinstance(result, JsObject) and isinstance(result.results, ConvertedList)
        assert result.results.to_py() is result.results
    raw = await db.prepare("SELECT name FROM users ORDER BY id").raw(columnNames=True)
    assert isinstance(raw, ConvertedList) and raw == [["name"], ["a"], ["b"], ["c"]]
    assert isinstance(await db.batch([db.prepare("SELECT 1")]), ConvertedList)
    row = await db.prepare("SELECT name FROM users WHERE id = 1").first()
    assert row.name == "a" and row.to_py() == {"name": "a"}


async def test_long_sql_texts_run_but_are_not_kept_as_prepared_statements(db: Any) -> None:
    from emulator.bindings.d1.engine import CACHED_TEXT_MAX

    await db.exec("CREATE TABLE big (n INTEGER, s TEXT)")
    long_sql = "INSERT INTO big VALUES " + ", ".join(f"({n}, 'x{n}')" for n in range(3_000))
    assert len(long_sql) > CACHED_TEXT_MAX
    result = await db.prepare(long_sql).run()
    assert result.meta["changes"] == 3_000
    assert long_sql not in db._prepared
    assert (await db.prepare("SELECT count(*) AS n FROM big").first("n")) == 3_000


# --- fast paths against their plain references ----------------------------------------
# `bind()` and `first()` are written for speed; `_bind_reference` and `_first_reference`
# say the same plainly. Over generated values and queries both give the same results and
# the same errors.

_any_value = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(2**63) - 2, -(2**63) + 2),
    st.integers(2**63 - 2, 2**63 + 2), st.floats(), st.text(max_size=8), st.binary(max_size=8),
    st.binary(max_size=8).map(bytearray), st.binary(max_size=8).map(lambda b: memoryview(b)),
    st.lists(st.integers(-2, 300), max_size=4), st.lists(st.integers(0, 255), max_size=4).map(tuple),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.just(object),
)


def _bound_or_error(bind: Any) -> Any:
    try:
        stmt = bind()
    except D1Error as exc:
        return "error", str(exc)
    return "ok", stmt.sql, [(type(v).__name__, repr(v)) for v in stmt.params]


@fuzz_settings(300)
@given(st.lists(_any_value, max_size=4))
def test_bind_agrees_with_its_reference(values: list[Any]) -> None:
    from emulator.bindings.d1.binding import D1PreparedStatement, _bind_reference

    stmt = D1PreparedStatement(None, "SELECT ?")  # type: ignore[arg-type]  # bind() never reaches the database
    assert _bound_or_error(lambda: stmt.bind(*values)) == _bound_or_error(lambda: _bind_reference(stmt, *values))


_ROWS = st.lists(st.tuples(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False),
                                     st.text(max_size=6), st.binary(max_size=6)),
                           st.one_of(st.none(), st.text(max_size=6), st.binary(max_size=6))), max_size=6)
_QUERIES = (
    ("SELECT * FROM t ORDER BY id", ()),
    ("SELECT b, a FROM t WHERE id = ?", (2,)),
    ("SELECT a AS x, a AS y FROM t ORDER BY id DESC", ()),
    ("SELECT * FROM t WHERE 0", ()),
    ("SELECT 1 AS one; SELECT * FROM t ORDER BY id", ()),  # several statements: the worker's path
    ("SELECT * FROM nope", ()),
    ("SELECT * FROM t WHERE id = ?", ()),  # a parameter missing
)


@fuzz_settings(40)
@given(_ROWS, st.lists(st.tuples(st.sampled_from(_QUERIES), st.sampled_from((None, "a", "b", "id", "x", "nope"))),
                       min_size=1, max_size=8))
def test_first_agrees_with_its_reference(rows: list[Any], queries: list[Any]) -> None:
    from emulator.bindings.d1.binding import D1Database, _first_reference
    from emulator.bindings.d1.engine import D1Engine

    async def outcome(call: Any, *args: Any) -> Any:
        try:
            return "ok", _comparable(await call(*args))
        except D1Error as exc:
            return "error", str(exc)

    async def compare(db: D1Database) -> None:
        await db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, a, b)")
        await db.batch([db.prepare("INSERT INTO t (a, b) VALUES (?, ?)").bind(a, b) for a, b in rows])
        for (sql, params), column in queries:
            stmt = db.prepare(sql).bind(*params)
            assert await outcome(stmt.first, column) == await outcome(_first_reference, stmt, column), (sql, column)

    with tempfile.TemporaryDirectory() as tmp:
        engine = D1Engine(Path(tmp) / "db.sqlite3")
        try:
            asyncio.run(compare(D1Database(engine, "db")))
        finally:
            engine.close()


def _comparable(value: Any) -> Any:
    if isinstance(value, dict):
        return type(value).__name__, [(k, _comparable(v)) for k, v in value.items()]
    if isinstance(value, list):
        return type(value).__name__, [_comparable(v) for v in value]
    return type(value).__name__, value
