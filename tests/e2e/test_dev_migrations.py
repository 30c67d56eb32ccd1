"""`dev` applies pending D1 migrations at start when asked (workspace or argument)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from emulator import Emulator, FakeClock
from emulator.emulator import StartError


async def notes(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session:
        async with session.get(url + "/notes") as resp:
            return resp.status, await resp.text()


async def test_workspace_setting_applies_migrations_once(workspace: Path) -> None:
    ws = workspace / "wrangler.toml"
    ws.write_text(ws.read_text() + "apply_migrations = true\n")
    async with Emulator([ws], clock=FakeClock(), port=0) as emu:
        assert await notes(emu.url("dev-backend")) == (200, '["migrated"]')
        assert "✅ 0001_notes.sql" in emu.log.messages(source="d1")
    # Restarting does not apply it again (the row would be duplicated).
    async with Emulator([ws], clock=FakeClock(), port=0) as emu:
        assert await notes(emu.url("dev-backend")) == (200, '["migrated"]')


async def test_without_the_setting_nothing_is_applied(workspace: Path) -> None:
    async with Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=0) as emu:
        status, text = await notes(emu.url("dev-backend"))
        assert status == 500 and "no such table" in text
    # The argument wins over the workspace (here: absent) setting.
    async with Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=0, apply_migrations=True) as emu:
        assert await notes(emu.url("dev-backend")) == (200, '["migrated"]')


async def test_a_failing_migration_stops_the_start(workspace: Path) -> None:
    (workspace / "backend" / "migrations" / "0002_broken.sql").write_text("CREATE TABLE (;\n")
    emulator = Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=0, apply_migrations=True)
    with pytest.raises(StartError, match="0002_broken|dev-db"):
        await emulator.start()
    assert not (workspace / ".emulator" / "server.json").exists()
