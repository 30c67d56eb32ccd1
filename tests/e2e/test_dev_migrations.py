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
    with pytest.raises(StartError, match=r"0002_broken|dev-db"):
        await emulator.start()
    assert not (workspace / ".emulator" / "server.json").exists()


@pytest.mark.parametrize("named", ["folder", "file"])
async def test_an_app_named_on_its_own_uses_its_workspace(workspace: Path, named: str) -> None:
    # docs/state.md: `dev -c backend` (or its config file) meets the workspace's state and
    # its apply_migrations, and says so.
    ws = workspace / "wrangler.toml"
    ws.write_text(ws.read_text() + "apply_migrations = true\n")
    target = workspace / "backend" if named == "folder" else workspace / "backend" / "wrangler.toml"
    async with Emulator([target], clock=FakeClock(), port=0) as emu:
        assert emu.state_dir == (workspace / ".emulator").resolve()
        assert await notes(emu.url("dev-backend")) == (200, '["migrated"]')
        [said] = [m for m in emu.log.messages(source="dev") if "is listed in the workspace" in m]
        assert str(ws.resolve()) in said and "apply_migrations = true" in said
    assert not (workspace / "backend" / ".emulator").exists()


async def test_pending_migrations_are_named_at_start_and_in_the_error(workspace: Path) -> None:
    async with Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=0) as emu:
        [warning] = [m for m in emu.log.messages(source="d1") if "pending migration" in m]
        assert "0001_notes.sql" in warning and "cf-emulator d1 migrations apply dev-db" in warning
        status, text = await notes(emu.url("dev-backend"))
        # The 500 the developer sees and the log line both say why the table is missing.
        assert status == 500 and "no such table: notes" in text and "1 pending migration (0001_notes.sql)" in text
        assert any("pending migration" in m for m in emu.log.messages(source="app:dev-backend"))
        # Applied through the running emulator, the note goes away with the error.
        plugin = emu.platform.plugin("d1")
        from emulator.bindings.d1.config import d1_config

        binding = d1_config(emu.platform.app("dev-backend")).databases[0]
        from emulator.bindings.d1.migrations import apply_migrations

        await apply_migrations(emu.platform, binding)
        assert plugin.pending_migrations(binding) == []  # type: ignore[attr-defined]  # the d1 plugin's own method
        assert await notes(emu.url("dev-backend")) == (200, '["migrated"]')
