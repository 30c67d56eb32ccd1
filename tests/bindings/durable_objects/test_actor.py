"""The execution model (actor.py): one object, one thread of execution, its gates, eviction.

docs/durable_objects.md, "Execution model". Each rule has a test that fails if the rule
is broken: storage that yielded to the loop would lose increments, a gate that serialised
every await would deadlock, and so on.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from emulator.bindings.durable_objects.errors import DurableObjectError
from emulator.bindings.durable_objects.store import ObjectStore
from emulator.clock import FakeClock
from tests.helpers.durable_objects import do_platform
from emulator.bindings.durable_objects.entrypoint import DurableObject

# Shared between the objects of one test (objects of one process can meet here, which is
# how the tests observe what runs when).
EVENTS: dict[str, asyncio.Event] = {}
LOG: list[str] = []
CONSTRUCTED: list[str] = []


@pytest.fixture(autouse=True)
def _reset_shared() -> None:
    EVENTS.clear()
    LOG.clear()
    CONSTRUCTED.clear()


def event(name: str) -> asyncio.Event:
    return EVENTS.setdefault(name, asyncio.Event())


class Counter(DurableObject):
    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        CONSTRUCTED.append(ctx.id.name)
        self.memory = 0

    async def increment(self) -> int:
        value = await self.ctx.storage.get("n") or 0
        await self.ctx.storage.put("n", value + 1)
        return value + 1

    async def bump_memory(self) -> int:
        self.memory += 1
        return self.memory

    async def read(self) -> Any:
        return await self.ctx.storage.get("n")

    async def wait_for(self, name: str) -> str:
        LOG.append(f"{self.ctx.id.name} waits")
        await event(name).wait()
        LOG.append(f"{self.ctx.id.name} resumes")
        return "done"

    async def release(self, name: str) -> None:
        LOG.append(f"{self.ctx.id.name} releases")
        event(name).set()

    async def call_other(self, other: str, then: str) -> Any:
        stub = self.env.COUNTER.getByName(other)
        return await getattr(stub, then)(self.ctx.id.name)

    async def call_back(self, caller: str) -> Any:
        return await self.env.COUNTER.getByName(caller).bump_memory()

    async def hit(self, tag: str) -> str:
        LOG.append(f"hit {tag}")
        return tag

    async def critical(self, name: str) -> Any:
        async def hold() -> int:
            LOG.append("critical start")
            await event(name).wait()
            LOG.append("critical end")
            return 42
        return await self.ctx.blockConcurrencyWhile(hold)

    async def failing_critical(self) -> None:
        async def boom() -> None:
            await self.ctx.storage.put("lost", True)
            raise ValueError("critical failed")
        await self.ctx.blockConcurrencyWhile(boom)

    async def write_then_abort(self) -> None:
        await self.ctx.storage.put("aborted", "written")
        self.ctx.abort("gone")

    async def write_then_raise(self) -> None:
        await self.ctx.storage.put("kept", "yes")
        raise RuntimeError("after the write")

    async def many_writes(self, n: int) -> int:
        for i in range(n):
            await self.ctx.storage.put(f"k{i}", i)
        return n

    async def background(self, name: str) -> None:
        async def later() -> None:
            await event(name).wait()
            await self.ctx.storage.put("background", "done")
        self.ctx.waitUntil(later())


class Loader(DurableObject):
    """Loads its state in the constructor, inside blockConcurrencyWhile (not awaited)."""

    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        self.value: Any = None
        ctx.blockConcurrencyWhile(self.load)

    async def load(self) -> None:
        await asyncio.sleep(0)  # a real yield: only the gate keeps the first event out
        self.value = (await self.ctx.storage.get("value")) or "initial"
        LOG.append("loaded")

    async def get(self) -> Any:
        LOG.append("get")
        return self.value


async def test_read_modify_write_through_storage_never_interleaves(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"COUNTER": Counter}) as (_, env):
        stub = env.COUNTER.getByName("c")
        results = await asyncio.gather(*(stub.increment() for _ in range(50)))
        assert sorted(results) == list(range(1, 51))
        assert await stub.read() == 50


async def test_events_interleave_at_awaits_that_really_wait(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"COUNTER": Counter}) as (_, env):
        stub = env.COUNTER.getByName("c")
        waiting = asyncio.ensure_future(stub.wait_for("go"))
        await asyncio.sleep(0)
        # The first call is suspended at a real await: a second call to the same object runs.
        await asyncio.wait_for(stub.release("go"), timeout=5)
        assert await asyncio.wait_for(waiting, timeout=5) == "done"
        assert LOG == ["c waits", "c releases", "c resumes"]


async def test_reentrant_calls_between_objects_do_not_deadlock(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"COUNTER": Counter}) as (_, env):
        a = env.COUNTER.getByName("a")
        # a → b → a: a's own event is still in progress when b calls back into it.
        assert await asyncio.wait_for(a.call_other("b", "call_back"), timeout=5) == 1
        assert await a.bump_memory() == 2


async def test_different_objects_run_concurrently(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"COUNTER": Counter}) as (_, env):
        first = asyncio.ensure_future(env.COUNTER.getByName("one").wait_for("cross"))
        await asyncio.sleep(0)
        await asyncio.wait_for(env.COUNTER.getByName("two").release("cross"), timeout=5)
        assert await asyncio.wait_for(first, timeout=5) == "done"


async def test_block_concurrency_while_holds_back_every_other_event(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"COUNTER": Counter}) as (_, env):
        stub = env.COUNTER.getByName("c")
        critical = asyncio.ensure_future(stub.critical("open"))
        await asyncio.sleep(0.01)
        hits = [asyncio.ensure_future(stub.hit(str(i))) for i in range(5)]
        await asyncio.sleep(0.01)
        assert LOG == ["critical start"]  # the five calls wait at the gate
        event("open").set()
        assert await asyncio.wait_for(critical, timeout=5) == 42  # the callback's value
        assert await asyncio.gather(*hits) == ["0", "1", "2", "3", "4"]
        # They ran after the critical section, in the order they arrived.
        assert ["critical start", "critical end"] + [f"hit {i}" for i in range(5)] == LOG


async def test_constructor_block_concurrency_while_runs_before_the_first_event(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"LOADER": Loader}) as (_, env):
        stub = env.LOADER.getByName("l")
        assert await stub.get() == "initial"
        assert LOG == ["loaded", "get"]


async def test_failed_critical_section_resets_the_object(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"COUNTER": Counter}) as (_, env):
        stub = env.COUNTER.getByName("c")
        await stub.bump_memory()
        with pytest.raises(ValueError, match="critical failed"):
            await stub.failing_critical()
        # Reset: the next call constructs a new instance; the section's write is gone.
        assert await stub.bump_memory() == 1
        assert CONSTRUCTED == ["c", "c"]
        assert await env.COUNTER.getByName("c").read() is None
        handle_storage = env.COUNTER.getByName("c")
        assert await handle_storage.read() is None


async def test_abort_fails_the_call_and_drops_unconfirmed_writes(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"COUNTER": Counter}) as (platform, env):
        stub = env.COUNTER.getByName("c")
        await stub.increment()
        with pytest.raises(DurableObjectError, match=r"^\w+: gone$") as caught:
            await stub.write_then_abort()
        assert caught.value.durableObjectReset is True
        ns = platform.plugins["durable_objects"].lookup("COUNTER")
        assert await ns.storage("c").get("aborted") is None
        assert await stub.read() == 1
        assert CONSTRUCTED == ["c", "c"]


async def test_a_failing_event_keeps_its_writes(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"COUNTER": Counter}) as (platform, env):
        with pytest.raises(RuntimeError, match="after the write"):
            await env.COUNTER.getByName("c").write_then_raise()
        ns = platform.plugins["durable_objects"].lookup("COUNTER")
        assert await ns.storage("c").get("kept") == "yes"


async def test_writes_are_durable_before_the_caller_sees_the_result(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"COUNTER": Counter}) as (_platform, env):
        stub = env.COUNTER.getByName("c")
        assert await stub.increment() == 1
        # Another connection (another process would see the same) reads the committed row.
        path = next((tmp_path / "state" / "durable_objects").glob("*/*.sqlite3"))
        if path.name == "metadata.sqlite3":
            path = next(p for p in path.parent.glob("*.sqlite3") if p.name != "metadata.sqlite3")
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("SELECT count(*) FROM _cf_KV").fetchone()[0] == 1
        finally:
            conn.close()


async def test_an_events_writes_are_coalesced_into_one_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commits: list[int] = []
    original = ObjectStore.commit

    def counting(self: ObjectStore) -> None:
        if self.in_txn:
            commits.append(1)
        original(self)

    monkeypatch.setattr(ObjectStore, "commit", counting)
    async with do_platform(tmp_path, {"COUNTER": Counter}) as (_, env):
        assert await env.COUNTER.getByName("c").many_writes(200) == 200
        assert len(commits) == 1


async def test_constructor_runs_once_per_activation_and_eviction_keeps_storage(tmp_path: Path) -> None:
    clock = FakeClock(start=1_700_000_000.0)
    async with do_platform(tmp_path, {"COUNTER": Counter}, idle_timeout=10, clock=clock) as (platform, env):
        stub = env.COUNTER.getByName("c")
        for _ in range(5):
            await stub.increment()
        assert await stub.bump_memory() == 1
        assert CONSTRUCTED == ["c"]
        await clock.advance(9.5)
        assert await stub.bump_memory() == 2  # not idle long enough: same instance
        await clock.advance(9.9)
        assert CONSTRUCTED == ["c"]
        await clock.advance(0.2)  # 10 s without an event: evicted
        ns = platform.plugins["durable_objects"].lookup("COUNTER")
        assert not ns.is_active("c")
        assert await stub.bump_memory() == 1  # in-memory state is gone...
        assert await stub.read() == 5  # ...storage is not
        assert CONSTRUCTED == ["c", "c"]


async def test_wait_until_keeps_an_object_from_being_evicted(tmp_path: Path) -> None:
    clock = FakeClock(start=1_700_000_000.0)
    async with do_platform(tmp_path, {"COUNTER": Counter}, idle_timeout=10, clock=clock) as (platform, env):
        stub = env.COUNTER.getByName("c")
        await stub.background("finish")
        await clock.advance(30)
        ns = platform.plugins["durable_objects"].lookup("COUNTER")
        assert ns.is_active("c")
        event("finish").set()
        await clock.settle()
        assert await ns.storage("c").get("background") == "done"
        await clock.advance(10.5)
        assert not ns.is_active("c")


async def test_explicit_eviction_reconstructs_on_the_next_call(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"COUNTER": Counter}, idle_timeout=0) as (platform, env):
        stub = env.COUNTER.getByName("c")
        await stub.increment()
        await stub.bump_memory()
        ns = platform.plugins["durable_objects"].lookup("COUNTER")
        assert ns.evict("c") == 1
        assert await stub.bump_memory() == 1
        assert await stub.read() == 1
        assert CONSTRUCTED == ["c", "c"]
