"""Fixtures for the end-to-end tests."""

from __future__ import annotations

import time
from pathlib import Path
from collections.abc import AsyncIterator

import aiohttp
import pytest_asyncio

from emulator.clock import FakeClock
from emulator.emulator import Emulator
from tests.helpers.demo_apps import WORKSPACE, Fusou


@pytest_asyncio.fixture
async def fusou(tmp_path: Path) -> AsyncIterator[Fusou]:
    # The clock starts near the real time (tokens are checked by pyjwt against the real
    # clock), just after a 5-minute boundary: the workflow app's `*/5 * * * *` re-drive cron
    # then fires only when a test advances past CRON_FIRST_FIRE, never by accident.
    start = (int(time.time()) // 300) * 300 + 1
    emu = Emulator([WORKSPACE], state_dir=tmp_path / "state", clock=FakeClock(start=start),
                   port=0, s3_port=None)
    await emu.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield Fusou(emu, session)
    finally:
        await emu.stop()
