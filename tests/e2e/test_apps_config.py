"""The demo apps' configs: both pass `cf-emulator check`; the Pages one with a consumer is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from emulator.cli import main as cli
from emulator.emulator import ConfigError, Emulator
from tests.helpers.demo_apps import ROOT, WORKSPACE

CONSUMER = """
[[queues.consumers]]
queue = "dev-kc-compaction-queue"
max_batch_size = 10
max_batch_timeout = 30
"""
REFUSAL = 'Configuration file for Pages projects does not support "queues.consumers"'


def test_the_shipped_configs_pass_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["check", str(WORKSPACE)]) == 0, capsys.readouterr().out


def web_with_consumer(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "apps", tmp_path / "apps", ignore=shutil.ignore_patterns("__pycache__"))
    config = tmp_path / "apps" / "web" / "wrangler.toml"
    config.write_text(config.read_text() + CONSUMER)
    shutil.copy(WORKSPACE, tmp_path / "wrangler.toml")
    return config


def test_pages_config_with_a_consumer_fails_check_with_wranglers_message(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = web_with_consumer(tmp_path)
    assert cli(["check", str(config)]) == 1
    out = capsys.readouterr()
    assert REFUSAL in out.out + out.err


async def test_dev_refuses_to_start_the_workspace_with_that_config(tmp_path: Path) -> None:
    web_with_consumer(tmp_path)
    emu = Emulator([tmp_path / "wrangler.toml"], state_dir=tmp_path / "state", port=0, s3_port=None)
    with pytest.raises(ConfigError) as info:
        await emu.start()
    assert REFUSAL in info.value.diagnostics
