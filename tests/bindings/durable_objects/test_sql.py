"""``ctx.storage.sql`` (sql.py): cursors, values, workerd's rules and error texts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emulator.bindings.durable_objects.entrypoint import DurableObject
from emulator.bindings.durable_objects.errors import DurableObjectError
from emulator.bindings.durable_objects.sql import TRANSACTIONS
from tests.helpers.durable_objects import do_platform


class Db(DurableObject):
    pass


async def run(platform: Any, fn: Any, name: str = "db") -> Any:
    ns = platform.plugins["durable_objects"].lookup("DB")
    return await ns.run(name, lambda instance, ctx: fn(ctx.storage.sql))


async def test_cursor_api(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"DB": Db}) as (platform, _):
        def body(sql: Any) -> None:
            sql.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, val TEXT)")
            write = sql.exec("INSERT INTO t (id, val) VALUES (?, ?), (?, ?)", 1, "alpha", 2, "beta")
            assert write.rowsWritten == 2 and write.columnNames == [] and write.toArray() == []
            sql.exec("INSERT INTO t VALUES (3, 'gamma')")
            rows = sql.exec("SELECT id, val FROM t ORDER BY id").toArray()
            assert rows == [{"id": 1, "val": "alpha"}, {"id": 2, "val": "beta"}, {"id": 3, "val": "gamma"}]
            assert rows[0].val == "alpha"  # rows allow attribute access (JsDict)
            cursor = sql.exec("SELECT id FROM t ORDER BY id")
            assert cursor.columnNames == ["id"]
            assert [r["id"] for r in cursor] == [1, 2, 3]
            assert cursor.rowsRead == 3 and cursor.rowsWritten == 0
            assert list(cursor) == []  # consumed
            assert sql.exec("SELECT val FROM t WHERE id = ?", 2).one() == {"val": "beta"}
            with pytest.raises(DurableObjectError,
                               match=r"^\w+: Expected exactly one result from SQL query, but got no results\.$"):
                sql.exec("SELECT * FROM t WHERE id = 9").one()
            with pytest.raises(DurableObjectError, match=r"but got multiple results\.$"):
                sql.exec("SELECT * FROM t").one()
            raw = sql.exec("SELECT id, val FROM t ORDER BY id").raw()
            assert raw.next() == {"done": False, "value": [1, "alpha"]}
            assert raw.toArray() == [[2, "beta"], [3, "gamma"]]
            it = sql.exec("SELECT id FROM t WHERE id = 1")
            assert it.next() == {"done": False, "value": {"id": 1}}
            assert it.next() == {"done": True, "value": None}
            assert sql.exec("SELECT 1 AS a, 2 AS a").columnNames == ["a", "a"]  # duplicates kept
        await run(platform, body)


async def test_values_come_back_as_workerd_hands_them_over(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"DB": Db}) as (platform, _):
        def body(sql: Any) -> None:
            row = sql.exec("SELECT 1.0 AS whole, 1.5 AS half, 9007199254740993 AS big, x'00ff' AS blob, NULL AS n, "
                           "'t' AS s").one()
            assert type(row.whole) is int and row.half == 1.5
            assert isinstance(row.big, float)  # beyond 2^53: a JS number loses precision
            assert isinstance(row.blob, memoryview) and bytes(row.blob) == b"\x00\xff"
            assert row.n is None and row.s == "t"
            sql.exec("CREATE TABLE b (v)")
            sql.exec("INSERT INTO b VALUES (?), (?), (?), (?)", b"bytes", memoryview(b"mv"), True, None)
            assert [r[0] if not isinstance(r[0], memoryview) else bytes(r[0])
                    for r in sql.exec("SELECT v FROM b").raw()] == [b"bytes", b"mv", 1, None]
            with pytest.raises(DurableObjectError, match="Cannot convert a BigInt value to a number"):
                sql.exec("SELECT ?", 2**60)
            with pytest.raises(TypeError, match="tuple"):
                sql.exec("SELECT ?", (1,))
        await run(platform, body)


async def test_several_statements_bind_and_return_the_last(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"DB": Db}) as (platform, _):
        def body(sql: Any) -> None:
            cursor = sql.exec("CREATE TABLE m (x); INSERT INTO m VALUES (1); SELECT x + ? AS y FROM m", 10)
            assert cursor.toArray() == [{"y": 11}]
        await run(platform, body)


async def test_workerds_rules_and_messages(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"DB": Db}) as (platform, _):
        async def body(sql: Any) -> None:
            for empty in ("", ";", "  "):
                with pytest.raises(DurableObjectError, match=r"^\w+: SQL code did not contain a statement.$"):
                    sql.exec(empty)
            with pytest.raises(DurableObjectError, match=r"^\w+: no such table: missing: SQLITE_ERROR$"):
                sql.exec("SELECT * FROM missing")
            with pytest.raises(DurableObjectError, match=r"^\w+: Wrong number of parameter bindings for SQL query.$"):
                sql.exec("SELECT ?")
            for statement in ("BEGIN TRANSACTION", "COMMIT", "SAVEPOINT x", "ROLLBACK"):
                with pytest.raises(DurableObjectError) as caught:
                    sql.exec(statement)
                assert caught.value.message == TRANSACTIONS
            with pytest.raises(DurableObjectError, match="not authorized"):
                sql.exec("CREATE TABLE _cf_mine (x)")
            with pytest.raises(DurableObjectError, match="not authorized"):
                sql.exec("SELECT sqlite_version()")
            with pytest.raises(DurableObjectError, match="not authorized: SQLITE_AUTH"):
                sql.exec("PRAGMA page_size = 8192")
            with pytest.raises(DurableObjectError, match="not authorized"):
                sql.exec("ATTACH DATABASE ':memory:' AS other")
            assert sql.exec("PRAGMA foreign_keys").toArray() == [{"foreign_keys": 0}]
            with pytest.raises(DurableObjectError, match="too many terms in compound SELECT"):
                sql.exec(" UNION ALL ".join(["SELECT 1"] * 6))
            with pytest.raises(DurableObjectError, match="too many SQL variables"):
                sql.exec("SELECT " + ", ".join(["?"] * 101), *range(101))
        await run(platform, body)


async def test_the_kv_table_is_out_of_sqls_reach(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"DB": Db}) as (platform, _):
        ns = platform.plugins["durable_objects"].lookup("DB")

        async def body(instance: Any, ctx: Any) -> None:
            await ctx.storage.put("blah", 123)  # creates _cf_KV
            with pytest.raises(DurableObjectError, match=r"access to _cf_KV\.key is prohibited"):
                ctx.storage.sql.exec("SELECT * FROM _cf_KV")
            # An application text equal to one of the store's own (trusted) statements gets no trust.
            with pytest.raises(DurableObjectError, match="access to _cf_KV"):
                ctx.storage.sql.exec(" SELECT value FROM _cf_KV WHERE key = ?", "blah")
            assert await ctx.storage.get("blah") == 123
        await ns.run("kv", body)


async def test_database_size_counts_pages_in_use(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"DB": Db}) as (platform, _):
        def body(sql: Any) -> tuple[int, int, int]:
            empty = sql.databaseSize
            sql.exec("CREATE TABLE big (v)")
            for _ in range(20):
                sql.exec("INSERT INTO big VALUES (?)", "x" * 10_000)
            grown = sql.databaseSize
            sql.exec("DROP TABLE big")
            return empty, grown, sql.databaseSize
        empty, grown, dropped = await run(platform, body)
        assert grown >= empty + 200_000 and dropped < grown and grown % 4096 == 0
