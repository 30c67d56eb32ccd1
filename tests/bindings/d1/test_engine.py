"""D1Engine pieces with their own rules: statement splitting, file layout, error text, and
the fast paths against their plain references."""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.bindings.d1.engine import (
    D1Engine,
    D1Error,
    database_path,
    split_statements,
    to_d1_error,
)
from tests.helpers.fuzz import fuzz_settings


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


# --- fast paths against their plain references ----------------------------------------
# Each fast path in the engine has a plainly written reference beside it; over generated
# statements (values of every bound type, wrong parameter counts, SQL errors, refused SQL,
# several statements in one text, writes that grow the file) both must give the same
# results, meta included (but ``duration``), and the same errors, and leave the same data.

_SETUP = "CREATE TABLE t (id INTEGER PRIMARY KEY, a, b UNIQUE)"
_bound = st.one_of(
    st.integers(0, 4), st.sampled_from(["x", "y"]), st.none(),  # values that meet again
    st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False), st.text(max_size=12),
    st.binary(max_size=12), st.binary(min_size=3000, max_size=5000),  # grows the file by pages
)
_row_id = st.integers(0, 30)
_VALID = (  # statements that usually succeed, with their parameters
    ("INSERT INTO t (a) VALUES (?)", (_bound,)),
    ("INSERT INTO t (a, b) VALUES (?, NULL) RETURNING id, a, b", (_bound,)),
    ("WITH x(v) AS (VALUES (?)) INSERT INTO t (a) SELECT v FROM x", (_bound,)),  # rowcount -1
    ("INSERT INTO t (a, b) SELECT a, NULL FROM t LIMIT 40", ()),
    ("SELECT * FROM t WHERE a = ?", (_bound,)),
    ("SELECT id, a, b FROM t ORDER BY id LIMIT ?", (st.integers(-1, 50),)),
    ("SELECT count(*) AS n, total(length(a)) AS bytes FROM t", ()),
    ("SELECT ?, ? AS second", (_bound, _bound)),
    ("UPDATE t SET a = ? WHERE id = ?", (_bound, _row_id)),
    ("DELETE FROM t WHERE id = ?", (_row_id,)),
    ("CREATE TABLE IF NOT EXISTS u (x BLOB)", ()),
    ("DROP TABLE IF EXISTS u", ()),
)
_TEXTS = tuple(sql for sql, _ in _VALID) + (  # and some that often or always fail
    "INSERT INTO t (a, b) VALUES (?, ?)",  # b is UNIQUE
    "INSERT INTO t (id, a) VALUES (?, ?)",  # datatype mismatch, taken ids
    "INSERT INTO u VALUES (?)",  # u may not exist
    "SELEC 1",
    "SELECT * FROM nope",
    "SELECT 1; SELECT ?",  # several statements
    "-- a comment only",  # none
    "ATTACH 'other.db' AS other",  # refused
    "PRAGMA page_count",  # refused
)
_valid_statement = st.sampled_from(_VALID).flatmap(
    lambda v: st.tuples(st.just(v[0]), st.tuples(*v[1]).map(list)))
_any_statement = st.tuples(st.sampled_from(_TEXTS), st.lists(_bound, max_size=3))
# Three in four statements valid: enough successes (and batches that commit) to compare.
_statement = st.integers(0, 3).flatmap(lambda n: _any_statement if n == 0 else _valid_statement)


def _comparable(value: Any) -> Any:
    """``value`` with its container types and key order kept, ``meta.duration`` dropped."""
    if isinstance(value, dict):
        return (type(value).__name__, [(k, None if k == "duration" else _comparable(v)) for k, v in value.items()])
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_comparable(v) for v in value])
    return value


def _outcome(call: Any, *args: Any) -> Any:
    try:
        return "ok", _comparable(call(*args))
    except D1Error as exc:
        return "error", str(exc), str(exc.cause)


def _two_engines(tmp: Path) -> tuple[D1Engine, D1Engine]:
    engines = D1Engine(tmp / "fast.sqlite3"), D1Engine(tmp / "reference.sqlite3")
    for engine in engines:
        engine.call_sync(partial(engine.script, sql=_SETUP))
    return engines


def _contents(engine: D1Engine) -> Any:
    return engine.call_sync(lambda c: c.execute("SELECT * FROM t ORDER BY id").fetchall())


@fuzz_settings(60)
@given(st.lists(st.tuples(_statement, st.booleans()), min_size=10, max_size=40))
def test_fast_result_and_fast_rows_agree_with_their_references(steps: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fast, reference = _two_engines(Path(tmp))
        try:
            for (sql, params), with_meta in steps:
                if with_meta:
                    got = _outcome(fast.fast_result, sql, params)
                    expected = _outcome(reference.fast_result_reference, sql, params)
                else:
                    got = _outcome(fast.fast_rows, sql, params)
                    expected = _outcome(reference.fast_rows_reference, sql, params)
                assert got == expected, (sql, params)
            assert _contents(fast) == _contents(reference)
        finally:
            fast.close()
            reference.close()


class _Statement:
    """What ``batch_statements`` reads of a prepared statement."""

    __slots__ = ("_sql", "_params")

    def __init__(self, sql: str, params: list[Any]) -> None:
        self._sql = sql
        self._params = params


@fuzz_settings(40)
@given(st.lists(st.lists(_statement, min_size=1, max_size=15), min_size=2, max_size=5))
def test_batch_statements_agrees_with_its_reference(batches: list[list[tuple[str, list[Any]]]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fast, reference = _two_engines(Path(tmp))
        try:
            for batch in batches:
                statements = [_Statement(sql, params) for sql, params in batch]
                got = _outcome(fast.call_sync, partial(fast.batch_statements, statements=statements))
                expected = _outcome(reference.call_sync,
                                    partial(reference.batch_statements_reference, statements=statements))
                assert got == expected, batch
                assert _contents(fast) == _contents(reference)  # a failed batch changed nothing
        finally:
            fast.close()
            reference.close()


def test_fast_paths_and_references_hand_over_what_they_cannot_finish(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Out of budget or locked: ``None`` (run it on the worker), and nothing took effect."""
    from emulator.bindings.d1 import engine as engine_module

    engine = D1Engine(tmp_path / "db.sqlite3")
    other = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    attempts = (engine.fast_result, engine.fast_result_reference, engine.fast_rows, engine.fast_rows_reference)
    try:
        engine.call_sync(lambda c: engine.script(c, "CREATE TABLE n (v INTEGER)"))
        other.execute("BEGIN IMMEDIATE")  # another connection holds the write lock
        assert [attempt("INSERT INTO n VALUES (?)", (1,)) for attempt in attempts] == [None] * 4
        other.execute("ROLLBACK")
        monkeypatch.setattr(engine_module, "FAST_PATH_BUDGET", 0.0)  # every attempt runs out
        heavy = ("INSERT INTO n WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                 "WHERE x < 20000) SELECT x FROM c")
        assert [attempt(heavy, ()) for attempt in attempts] == [None] * 4
        assert other.execute("SELECT count(*) FROM n").fetchone() == (0,)
    finally:
        other.close()
        engine.close()
