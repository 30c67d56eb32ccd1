"""A namespace's engine (engine.py): alarms on the clock, retries, persistence, the object index."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from emulator.bindings.durable_objects.entrypoint import DurableObject
from emulator.clock import FakeClock
from tests.helpers.durable_objects import START, do_platform

RUNS: list[dict[str, Any]] = []
FAILURES = {"left": 0}


@pytest.fixture(autouse=True)
def _reset() -> None:
    RUNS.clear()
    FAILURES["left"] = 0


class Alarmed(DurableObject):
    async def schedule(self, at_ms: int) -> None:
        await self.ctx.storage.setAlarm(at_ms)

    async def alarm(self, info: Any) -> None:
        RUNS.append({"name": self.ctx.id.name, "at": self.env_now(), "retryCount": info.retryCount,
                     "isRetry": info.isRetry, "during": await self.ctx.storage.getAlarm()})
        if FAILURES["left"]:
            FAILURES["left"] -= 1
            raise RuntimeError("alarm handler failed")

    def env_now(self) -> float:
        return float(self.ctx.storage._actor.namespace.clock.now())


class Rescheduling(DurableObject):
    async def schedule(self, at_ms: int) -> None:
        await self.ctx.storage.setAlarm(at_ms)

    async def alarm(self) -> None:  # no argument: handlers are called relaxed
        RUNS.append({"name": self.ctx.id.name})
        if len(RUNS) < 3:
            await self.ctx.storage.setAlarm(int((START + 100 * len(RUNS)) * 1000) + 60_000)

    async def current(self) -> Any:
        return await self.ctx.storage.getAlarm()


async def test_an_alarm_fires_at_its_time_on_the_clock(tmp_path: Path) -> None:
    clock = FakeClock(start=START)
    async with do_platform(tmp_path, {"ALARMED": Alarmed}, clock=clock) as (platform, env):
        stub = env.ALARMED.getByName("a")
        await stub.schedule(int((START + 60) * 1000))
        await clock.advance(59.9)
        await platform.drain(timeout=5)
        assert RUNS == []
        await clock.advance(0.2)
        await platform.drain(timeout=5)
        assert RUNS == [{"name": "a", "at": START + 60, "retryCount": 0, "isRetry": False, "during": None}]
        ns = platform.plugins["durable_objects"].lookup("ALARMED")
        assert await ns.alarm("a") is None  # deleted after a successful run


async def test_a_failing_alarm_is_retried_with_backoff_then_dropped(tmp_path: Path) -> None:
    clock = FakeClock(start=START)
    async with do_platform(tmp_path, {"ALARMED": Alarmed}, clock=clock) as (platform, env):
        FAILURES["left"] = 100
        await env.ALARMED.getByName("r").schedule(int(START * 1000))
        await clock.advance(0)
        await platform.drain(timeout=5)
        assert len(RUNS) == 1
        await clock.advance(1.9)  # the first retry comes 2 s (plus up to 25 %) later
        assert len(RUNS) == 1
        await clock.advance(0.6)
        assert len(RUNS) == 2 and RUNS[1]["retryCount"] == 1 and RUNS[1]["isRetry"] is True
        for _ in range(10):
            await clock.advance(100)
        assert [r["retryCount"] for r in RUNS] == [0, 1, 2, 3, 4, 5, 6]  # 6 retries, then dropped
        gaps = [b["at"] - a["at"] for a, b in pairwise(RUNS)]
        assert all(2 * 2 ** i <= gap <= 2 * 2 ** i * 1.25 + 0.01 for i, gap in enumerate(gaps[:5]))
        assert await platform.plugins["durable_objects"].lookup("ALARMED").alarm("r") is None


async def test_a_retried_alarm_succeeds(tmp_path: Path) -> None:
    clock = FakeClock(start=START)
    async with do_platform(tmp_path, {"ALARMED": Alarmed}, clock=clock) as (_platform, env):
        FAILURES["left"] = 2
        await env.ALARMED.getByName("r").schedule(int(START * 1000) + 10)
        for _ in range(5):
            await clock.advance(20)
        assert [(r["retryCount"], r["isRetry"]) for r in RUNS] == [(0, False), (1, True), (2, True)]


async def test_a_handler_setting_a_new_alarm_keeps_it(tmp_path: Path) -> None:
    clock = FakeClock(start=START)
    async with do_platform(tmp_path, {"ALARMED": Rescheduling}, clock=clock) as (_platform, env):
        stub = env.ALARMED.getByName("again")
        await stub.schedule(int(START * 1000) + 1000)
        await clock.advance(2)
        assert len(RUNS) == 1
        assert await stub.current() == int((START + 100) * 1000) + 60_000
        await clock.advance(200)
        await clock.advance(200)
        assert len(RUNS) == 3
        assert await stub.current() is None


async def test_alarms_survive_a_restart_and_fire_when_due(tmp_path: Path) -> None:
    clock = FakeClock(start=START)
    state = tmp_path / "state"
    async with do_platform(tmp_path, {"ALARMED": Alarmed}, clock=clock, state=state) as (_, env):
        await env.ALARMED.getByName("p").schedule(int((START + 30) * 1000))
        await env.ALARMED.getByName("q").schedule(int((START + 90) * 1000))
    await clock.advance(60)  # while stopped: p is overdue, q is not yet
    assert RUNS == []
    async with do_platform(tmp_path, {"ALARMED": Alarmed}, clock=clock, state=state) as (platform, _):
        await clock.advance(0)
        await platform.drain(timeout=5)
        assert [r["name"] for r in RUNS] == ["p"]
        await clock.advance(31)
        assert [r["name"] for r in RUNS] == ["p", "q"]


async def test_set_alarm_replaces_and_past_times_run_at_once(tmp_path: Path) -> None:
    clock = FakeClock(start=START)
    async with do_platform(tmp_path, {"ALARMED": Alarmed}, clock=clock) as (platform, env):
        stub = env.ALARMED.getByName("x")
        await stub.schedule(int((START + 500) * 1000))
        await stub.schedule(int((START - 500) * 1000))  # in the past: clamped to now
        await clock.advance(0)
        await platform.drain(timeout=5)
        assert len(RUNS) == 1
        await clock.advance(1000)
        assert len(RUNS) == 1  # the replaced alarm does not fire


async def test_the_index_lists_objects_that_stored_something(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"ALARMED": Alarmed}) as (platform, env):
        for name in ("b", "a"):
            await env.ALARMED.getByName(name).schedule(10**13)
        ns = platform.plugins["durable_objects"].lookup("ALARMED")
        ids = ns.object_ids()
        assert sorted(ids) == sorted(env.ALARMED.idFromName(n).toString() for n in ("a", "b"))
        engine = ns.engine
        assert {name for _, name, _ in engine.index.objects(None, 10)} == {"a", "b"}
