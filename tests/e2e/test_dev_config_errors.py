"""`dev` refuses to start on config errors, with `check`'s diagnostics."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from emulator import Emulator, FakeClock
from emulator.emulator import AppStartError, ConfigError

APPS = Path(__file__).parent / "apps" / "dev"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(APPS, root)
    return root


async def test_pages_app_with_a_queue_consumer_is_refused(workspace: Path) -> None:
    config = workspace / "shop" / "wrangler.toml"
    config.write_text(config.read_text() + '\n[[queues.consumers]]\nqueue = "dev-orders"\n')
    emulator = Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=0)
    with pytest.raises(ConfigError) as caught:
        await emulator.start()
    text = caught.value.diagnostics
    assert 'Configuration file for Pages projects does not support "queues.consumers"' in text
    assert "consumers belong in a Worker" in text
    assert not (workspace / ".emulator" / "server.json").exists()


async def test_invalid_config_is_refused_with_the_diagnostics(workspace: Path) -> None:
    config = workspace / "backend" / "wrangler.toml"
    config.write_text(config.read_text().replace("max_batch_size = 10", 'max_batch_size = "ten"'))
    with pytest.raises(ConfigError) as caught:
        await Emulator([config], clock=FakeClock(), port=0).start()
    assert "max_batch_size" in caught.value.diagnostics
    assert "wrangler.toml" in caught.value.diagnostics


async def test_app_that_fails_to_import_is_refused_with_its_traceback(workspace: Path) -> None:
    (workspace / "backend" / "src" / "helpers.py").write_text("def answer(:\n")
    with pytest.raises(AppStartError) as caught:
        await Emulator([workspace / "backend"], clock=FakeClock(), port=0).start()
    assert "dev-backend" in str(caught.value)
    assert "SyntaxError" in str(caught.value)


async def test_single_app_folder_hosts_that_app_alone(workspace: Path) -> None:
    async with Emulator([workspace / "backend"], clock=FakeClock(), port=0) as emu:
        assert [a.name for a in emu.apps] == ["dev-backend"]
        # Without a workspace the state lives next to the app's config.
        assert emu.state_dir == (workspace / "backend" / ".emulator").resolve()
