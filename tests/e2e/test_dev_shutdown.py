"""Graceful stop: an in-flight batch longer than the bound is left for redelivery."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from emulator import Emulator, FakeClock
from emulator.logs import EventLog


async def test_a_batch_past_the_bound_is_redelivered_after_restart(workspace: Path) -> None:
    config = workspace / "wrangler.toml"
    clock = FakeClock()
    emu = Emulator([config], clock=clock, port=0, log=EventLog(), shutdown_timeout=0.3)
    await emu.start()
    async with aiohttp.ClientSession() as session:
        async with session.post(emu.url("dev-shop") + "/api/order", json={"id": 11, "slow": 30}) as resp:
            assert resp.status == 200
    await clock.advance(1)  # the batch times out and goes to the consumer, which takes 30 s
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while "processing order 11" not in emu.log.messages(source="app:dev-backend"):
        assert loop.time() < deadline, "the batch never started"
        await asyncio.sleep(0.01)
    assert emu.in_flight() == 1

    started = loop.time()
    await emu.stop()
    assert loop.time() - started < 3  # bounded, not the handler's 30 s
    assert any("did not finish within 0.3s" in m for m in emu.log.messages(level="warn"))

    clock2 = FakeClock()
    async with Emulator([config], clock=clock2, port=0, log=EventLog()) as emu2:
        await clock2.advance(1)
        await emu2.drain()
        async with aiohttp.ClientSession() as session:
            async with session.get(emu2.url("dev-backend") + "/orders/11") as resp:
                assert resp.status == 200
                assert json.loads(await resp.text())["id"] == 11
