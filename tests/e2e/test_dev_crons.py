"""Cron triggers end to end: `[triggers] crons` fire on the clock, `/__scheduled` by hand."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import aiohttp

from emulator import Emulator, FakeClock
from emulator.logs import EventLog

START = dt.datetime(2026, 3, 1, 12, 1, 30, tzinfo=dt.UTC).timestamp()


async def get_json(url: str) -> object:
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as resp:
            assert resp.status == 200
            return json.loads(await resp.text())


async def test_crons_fire_on_schedule_in_utc(workspace: Path) -> None:
    clock = FakeClock(start=START)
    async with Emulator([workspace / "wrangler.toml"], clock=clock, port=0, log=EventLog()) as emu:
        url = emu.url("dev-backend") + "/scheduled"
        assert await get_json(url) == []
        await clock.advance(3 * 60)  # 12:04:30: `*/5` not due yet
        assert await get_json(url) == []
        await clock.advance(60)  # 12:05:30
        first = dt.datetime(2026, 3, 1, 12, 5, tzinfo=dt.UTC).timestamp() * 1000
        assert await get_json(url) == [{"cron": "*/5 * * * *", "time": int(first)}]
        await clock.advance(30 * 60)
        runs = await get_json(url)
        assert isinstance(runs, list) and len(runs) == 7
        assert [r["time"] for r in runs] == [int(first + i * 300_000) for i in range(7)]
        assert any('[dev-backend] scheduled "*/5 * * * *"' in m for m in emu.log.messages(source="http"))


async def test_scheduled_endpoint_fires_by_hand(workspace: Path) -> None:
    clock = FakeClock(start=START)
    async with Emulator([workspace / "wrangler.toml"], clock=clock, port=0, log=EventLog()) as emu:
        base = emu.url("dev-backend")
        async with aiohttp.ClientSession() as session:
            async with session.get(base + "/__scheduled", params={"cron": "0 * * * *"}) as resp:
                assert resp.status == 200 and await resp.text() == "Ran scheduled event"
            async with session.get(base + "/cdn-cgi/handler/scheduled",
                                   params={"cron": "1 2 3 4 5", "time": "1234"}) as resp:
                assert resp.status == 200
            async with session.get(base + "/__scheduled", params={"time": "soon"}) as resp:
                assert resp.status == 400
        assert await get_json(base + "/scheduled") == [
            {"cron": "0 * * * *", "time": int(START * 1000)},
            {"cron": "1 2 3 4 5", "time": 1234},
        ]
        # A Pages app has no scheduled handler: the path is an ordinary request there.
        async with aiohttp.ClientSession() as session:
            async with session.get(emu.url("dev-shop") + "/__scheduled") as resp:
                assert "Ran scheduled event" not in await resp.text()
