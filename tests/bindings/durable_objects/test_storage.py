"""``ctx.storage`` (storage.py): the key-value API, its options, limits, transactions and errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from emulator.bindings.durable_objects.entrypoint import DurableObject
from emulator.bindings.durable_objects.errors import DurableObjectError
from emulator.jsobject import JsObject
from tests.helpers.durable_objects import do_platform

CONSTRUCTED: list[int] = []


class Store(DurableObject):
    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        CONSTRUCTED.append(1)

    async def alarm(self) -> None:
        pass


class NoAlarm(DurableObject):
    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        # Allowed while constructing (workerd checks the handler only afterwards).
        ctx.storage.setAlarm(10**13)


def handle(platform: Any, binding: str = "STORE") -> Any:
    return platform.plugins["durable_objects"].lookup(binding)


async def run(platform: Any, fn: Any, name: str = "s", binding: str = "STORE") -> Any:
    """``fn(ctx)`` as an event of the object ``name``."""
    return await handle(platform, binding).run(name, lambda instance, ctx: fn(ctx))


async def test_get_put_delete_single_and_many(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"STORE": Store}) as (platform, _):
        async def body(ctx: Any) -> None:
            s = ctx.storage
            assert await s.put("a", 1) is None
            await s.put({"c": 3, "b": 2, "nil": None})
            assert await s.get("a") == 1 and await s.get("missing") is None
            assert await s.get("nil") is None and "nil" in await s.list()
            many = await s.get(["c", "missing", "a", "b"])
            assert isinstance(many, JsObject) and list(many) == ["a", "b", "c"]  # found keys, in key order
            assert await s.delete("a") is True and await s.delete("a") is False
            assert await s.delete(["b", "c", "nope"]) == 2
            assert list(await s.list()) == ["nil"]
        await run(platform, body)


async def test_values_round_trip_as_python_sees_them(tmp_path: Path) -> None:
    when = dt.datetime(2025, 3, 4, 5, 6, 7, 8000)
    async with do_platform(tmp_path, {"STORE": Store}) as (platform, _):
        async def body(ctx: Any) -> None:
            s = ctx.storage
            values = {"str": "hello", "int": 42, "float": 3.14, "bool": True, "list": [1, "x", None],
                      "dict": {"k": {"n": 1}}, "bytes": b"\x01\x02", "date": when, "whole": 2.0}
            await s.put(values)
            got = await s.get(list(values))
            assert got["str"] == "hello" and got["int"] == 42 and abs(got["float"] - 3.14) < 1e-9
            assert got["bool"] is True and got["list"] == [1, "x", None] and got["dict"].k.n == 1
            assert bytes(got["bytes"]) == b"\x01\x02" and got["date"] == when and type(got["whole"]) is int
        await run(platform, body)


async def test_list_options(tmp_path: Path) -> None:
    keys = ["a", "b", "ba", "bb", "c", "é", "😀", "B"]
    async with do_platform(tmp_path, {"STORE": Store}) as (platform, _):
        async def body(ctx: Any) -> None:
            s = ctx.storage
            await s.put({k: k for k in keys})

            async def listed(*args: Any, **kwargs: Any) -> list[str]:
                return list(await s.list(*args, **kwargs))

            assert await listed() == ["B", "a", "b", "ba", "bb", "c", "é", "😀"]  # UTF-8 byte order
            assert await listed({"prefix": "b"}) == ["b", "ba", "bb"]
            assert await listed(prefix="b", limit=2) == ["b", "ba"]
            assert await listed(start="b", end="c") == ["b", "ba", "bb"]
            assert await listed(startAfter="b", end="c") == ["ba", "bb"]
            assert await listed(prefix="b", reverse=True) == ["bb", "ba", "b"]
            assert await listed(reverse=True, limit=2) == ["😀", "é"]
            assert await listed(prefix="b", start="ba") == ["ba", "bb"]
            assert await listed(prefix="b", start="c") == []
            assert await listed(prefix="b", end="bb") == ["b", "ba"]
            assert await listed(start="c", end="a") == []
            with pytest.raises(DurableObjectError,
                               match=r"^\w+: list\(\) cannot be called with both start and startAfter"):
                await s.list(start="a", startAfter="a")
            with pytest.raises(DurableObjectError, match=r"^\w+: List limit must be positive.$"):
                await s.list(limit=0)
        await run(platform, body)


async def test_kv_backed_limits_and_their_texts(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"STORE": Store}, sqlite=False) as (platform, _):
        async def body(ctx: Any) -> None:
            s = ctx.storage
            with pytest.raises(DurableObjectError) as key_error:
                await s.put("k" * 2049, 1)
            assert (key_error.value.name, key_error.value.message) == (
                "RangeError", "Keys cannot be larger than 2048 bytes. A key of size 2049 was provided.")
            await s.put("k" * 2048, 1)
            with pytest.raises(DurableObjectError,
                               match=r"^\w+: Values cannot be larger than 131072 bytes\. A value of "):
                await s.put("v", "x" * 131_200)
            await s.put("v", "x" * 131_000)
            with pytest.raises(DurableObjectError,
                               match=r"^\w+: Maximum number of key value pairs is 128\. 129 pairs were provided\.$"):
                await s.get([str(i) for i in range(129)])
            with pytest.raises(DurableObjectError, match="Maximum number of key value pairs is 128"):
                await s.put({str(i): i for i in range(129)})
            assert await s.get("v") == "x" * 131_000  # a rejected write changed nothing
        await run(platform, body)


async def test_sqlite_backed_objects_keep_sqlites_limits(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"STORE": Store}) as (platform, _):
        async def body(ctx: Any) -> None:
            s = ctx.storage
            await s.put("k" * 3000, "x" * 500_000)  # beyond the KV-backed limits: fine here
            assert len(await s.get("k" * 3000)) == 500_000
            with pytest.raises(DurableObjectError, match="SQLITE_TOOBIG"):
                await s.put("big", "x" * 3_000_000)
        await run(platform, body)


async def test_put_argument_errors(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"STORE": Store}) as (platform, _):
        async def body(ctx: Any) -> None:
            with pytest.raises(DurableObjectError, match=r"^\w+: put\(\) called with undefined value.$"):
                await ctx.storage.put("k")
            with pytest.raises(DurableObjectError, match=r"^\w+: put\(\) may only be called with a single key-value"):
                await ctx.storage.put({"a": 1}, 5)
            with pytest.raises(TypeError, match="tuple"):
                ctx.storage.put("k", (1, 2))  # the SDK's check: at the call
            with pytest.raises(DurableObjectError, match="Storage keys must be strings"):
                await ctx.storage.get(object())
        await run(platform, body)


async def test_a_put_that_is_not_awaited_still_happens(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"STORE": Store}) as (platform, _):
        async def body(ctx: Any) -> None:
            ctx.storage.put("eager", "yes")  # a JS promise runs without being awaited
        await run(platform, body)
        assert await handle(platform).storage("s").get("eager") == "yes"


async def test_delete_all_wipes_kv_and_sql_and_the_alarm_by_compat_date(tmp_path: Path) -> None:
    for date, alarm_kept in (("2025-08-14", True), ("2026-03-01", False)):
        CONSTRUCTED.clear()
        async with do_platform(tmp_path / date, {"STORE": Store}, compatibility_date=date) as (platform, _):
            async def body(ctx: Any) -> Any:
                s = ctx.storage
                await s.put("k", 1)
                s.sql.exec("CREATE TABLE t (x)")
                s.sql.exec("INSERT INTO t VALUES (1)")
                await s.setAlarm(10**13)
                await s.deleteAll()
                tables = s.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table'").toArray()
                return await s.list(), tables, await s.getAlarm()
            listed, tables, alarm = await run(platform, body)
            assert listed == {} and tables == []
            assert (alarm is not None) is alarm_kept, date


async def test_transaction_commits_or_rolls_back(tmp_path: Path) -> None:
    CONSTRUCTED.clear()
    async with do_platform(tmp_path, {"STORE": Store}) as (platform, _):
        async def body(ctx: Any) -> Any:
            s = ctx.storage

            async def ok(txn: Any) -> str:
                await txn.put("txn_key", "txn_value")
                await txn.setAlarm(10**13)
                return await txn.get("txn_key")

            assert await s.transaction(ok) == "txn_value"
            assert await s.get("txn_key") == "txn_value" and await s.getAlarm() == 10**13

            async def failing(txn: Any) -> None:
                await txn.put("txn_key", "changed")
                await txn.deleteAlarm()
                raise KeyError("abort this")

            with pytest.raises(KeyError):
                await s.transaction(failing)
            assert await s.get("txn_key") == "txn_value" and await s.getAlarm() == 10**13

            kept: list[Any] = []

            async def rolled(txn: Any) -> str:
                await txn.put("other", 1)
                txn.rollback()
                txn.rollback()  # a second rollback is allowed
                with pytest.raises(DurableObjectError, match=r"^\w+: Cannot get\(\) on rolled back transaction$"):
                    await txn.get("other")
                kept.append(txn)
                return "returned"

            assert await s.transaction(rolled) == "returned"
            assert await s.get("other") is None
            with pytest.raises(DurableObjectError, match=r"^\w+: Cannot call deleteAll\(\) within a transaction$"):
                await s.transaction(lambda txn: txn.deleteAll())

            async def escape(txn: Any) -> None:
                kept.append(txn)
            await s.transaction(escape)
            with pytest.raises(DurableObjectError, match=r"^\w+: Cannot call put\(\) on transaction that has already "
                                                         "committed: did you move `txn` outside of the closure\\?$"):
                await kept[-1].put("late", 1)
        await run(platform, body)
        assert CONSTRUCTED == [1]  # a failed transaction does not reset the object


async def test_transaction_sync_and_sync_kv_on_sqlite_backed_objects(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"STORE": Store}) as (platform, _):
        async def body(ctx: Any) -> None:
            s = ctx.storage
            s.sql.exec("CREATE TABLE t (x)")

            def insert_then_fail() -> None:
                s.sql.exec("INSERT INTO t VALUES (1)")
                raise ValueError("undo")

            with pytest.raises(ValueError):
                s.transactionSync(insert_then_fail)
            assert s.transactionSync(lambda: s.sql.exec("INSERT INTO t VALUES (2)").rowsWritten) == 1
            assert [r["x"] for r in s.sql.exec("SELECT x FROM t")] == [2]
            kv = s.kv
            kv.put("a", {"n": 1})
            kv.put("b", 2)
            assert kv.get("a").n == 1 and kv.get("zz") is None
            assert list(kv.list(prefix="")) == [["a", {"n": 1}], ["b", 2]]
            assert kv.delete("b") is True and kv.delete("b") is False
            assert await s.get("a") == {"n": 1}  # one table for both APIs
        await run(platform, body)


async def test_sqlite_only_apis_refuse_kv_backed_objects(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"STORE": Store}, sqlite=False) as (platform, _):
        async def body(ctx: Any) -> None:
            with pytest.raises(DurableObjectError,
                               match=r"^\w+: SQL is not enabled for this Durable Object class\. To enable it, change "
                                     r"`new_classes` to `new_sqlite_classes`"):
                ctx.storage.sql.exec("SELECT 1")
            with pytest.raises(DurableObjectError,
                               match=r"^\w+: The storage\.kv \(synchronous KV\) API is only available for "
                                     r"SQLite-backed Durable Objects"):
                ctx.storage.kv.get("x")
            with pytest.raises(DurableObjectError, match=r"^\w+: Durable Object is not backed by SQL.$"):
                ctx.storage.transactionSync(lambda: None)
            await ctx.storage.sync()
        await run(platform, body)


async def test_alarm_api_errors_and_values(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"STORE": Store, "NOALARM": NoAlarm}) as (platform, _):
        async def body(ctx: Any) -> None:
            s = ctx.storage
            assert await s.getAlarm() is None
            with pytest.raises(DurableObjectError,
                               match=r"^\w+: setAlarm\(\) cannot be called with an alarm time <= 0$"):
                await s.setAlarm(0)
            await s.setAlarm(dt.datetime(2100, 1, 1))
            assert await s.getAlarm() == 4102444800000
            await s.deleteAlarm()
            assert await s.getAlarm() is None
        await run(platform, body)

        async def no_handler(ctx: Any) -> None:
            assert await ctx.storage.getAlarm() == 10**13  # set while constructing
            with pytest.raises(DurableObjectError,
                               match=r"^\w+: Your Durable Object class must have an alarm\(\) handler in order to call "
                                     r"setAlarm\(\)$"):
                await ctx.storage.setAlarm(10**13)
        await run(platform, no_handler, binding="NOALARM")
