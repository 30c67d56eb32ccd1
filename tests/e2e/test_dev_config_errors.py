"""`dev` refuses to start on config errors, with `check`'s diagnostics."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from emulator import Emulator, FakeClock
from emulator.bindings.queues.config import queues_config
from emulator.cli import build_parser, run_verb
from emulator.config.model import AppConfig
from emulator.emulator import AppStartError, ConfigError, StartError


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
        # An app its workspace lists shares the workspace's state (docs/state.md)...
        assert emu.state_dir == (workspace / ".emulator").resolve()
    (workspace / "wrangler.toml").unlink()
    async with Emulator([workspace / "backend"], clock=FakeClock(), port=0) as emu:
        # ...without a workspace the state lives next to the app's config.
        assert emu.state_dir == (workspace / "backend" / ".emulator").resolve()


def second_backend(workspace: Path) -> Path:
    """A copy of the backend app under another name: it consumes the same queue."""
    copy = workspace / "backend2"
    shutil.copytree(workspace / "backend", copy)
    config = copy / "wrangler.toml"
    config.write_text(config.read_text().replace('name = "dev-backend"', 'name = "dev-backend2"'))
    return copy


@pytest.fixture
def checks_without_cross_app_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each config alone passes wrangler's rules; only our cross-app rule sees two consumers
    # of one queue. Without it the config reaches the broker, which must refuse it cleanly.
    from emulator.bindings.queues.config import TYPE

    monkeypatch.setattr(TYPE, "check_set", lambda facts, cross_warnings: None)


MULTIPLE = 'Multiple consumers defined for queue "dev-orders": "dev-backend" and "dev-backend2"'


async def test_a_queue_error_from_the_broker_is_a_start_error(
        workspace: Path, checks_without_cross_app_rules: None) -> None:
    emulator = Emulator([workspace / "backend", second_backend(workspace)], clock=FakeClock(), port=0)
    with pytest.raises(StartError) as caught:
        await emulator.start()
    assert str(caught.value) == MULTIPLE
    assert not (workspace / "backend" / ".emulator" / "server.json").exists()


async def test_a_dead_letter_queue_equal_to_its_queue_is_a_start_error(
        workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = Emulator([workspace / "backend"], clock=FakeClock(), port=0)
    real_load = emulator.load_config

    def load_with_a_self_dlq() -> list[AppConfig]:
        # Past `check` (which reports this as CFE107), as a config from another tool could be.
        apps = real_load()
        return [dataclasses.replace(a, bindings={**a.bindings, "queues": dataclasses.replace(
            queues_config(a), consumers=tuple(dataclasses.replace(c, dead_letter_queue=c.queue)
                                              for c in queues_config(a).consumers))}) for a in apps]

    monkeypatch.setattr(emulator, "load_config", load_with_a_self_dlq)
    with pytest.raises(StartError) as caught:
        await emulator.start()
    assert str(caught.value) == 'Dead letter queue for queue "dev-orders" cannot be itself'


def test_dev_prints_the_queue_error_and_exits_1(
        workspace: Path, checks_without_cross_app_rules: None, capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    args = parser.parse_args(["dev", "-c", str(workspace / "backend"), "-c", str(second_backend(workspace)),
                              "--port", "0", "--no-watch"])
    assert run_verb(args) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"✘ [ERROR] {MULTIPLE}"


@pytest.mark.parametrize("damaged", ["queues/queues.sqlite3", "d1/dev-db.sqlite3", "r2/dev-shared/index.sqlite3"])
def test_a_damaged_state_file_is_a_clear_error_not_a_traceback(
        workspace: Path, damaged: str, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    async def once() -> None:
        async with Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=0):
            pass

    asyncio.run(once())
    (workspace / ".emulator" / damaged).write_bytes(b"not a database" * 512)
    args = build_parser().parse_args(["dev", "-c", str(workspace / "wrangler.toml"), "--port", "0", "--no-watch"])
    assert run_verb(args) == 1
    err = capsys.readouterr().err
    plugin = damaged.split("/")[0]
    assert f"✘ [ERROR] Could not start the {plugin} binding: DatabaseError: file is not a database" in err
    assert "--persist-to" in err
    assert "Traceback" not in err
    assert not (workspace / ".emulator" / "server.json").exists()


async def test_deeply_nested_config_is_refused_with_a_located_diagnostic(workspace: Path) -> None:
    config = workspace / "backend" / "wrangler.toml"
    config.write_text(config.read_text().replace("[vars]\n", "[vars]\nDEEP = " + "[" * 100_000 + "]" * 100_000 + "\n"))
    with pytest.raises(ConfigError) as caught:
        await Emulator([config], clock=FakeClock(), port=0).start()
    text = caught.value.diagnostics
    assert "Invalid TOML document: document contains excessively nested structures. aborting." in text
    assert "wrangler.toml:8:1008" in text  # `DEEP = ` then the 1001st bracket


async def test_config_nested_as_deep_as_wrangler_allows_starts(workspace: Path) -> None:
    config = workspace / "backend" / "wrangler.toml"
    config.write_text(config.read_text().replace("[vars]\n", "[vars]\nDEEP = " + "[" * 1000 + "]" * 1000 + "\n"))
    async with Emulator([config], clock=FakeClock(), port=0) as emu:
        deep = emu.apps[0].vars["DEEP"]
        for _ in range(999):
            (deep,) = deep
        assert deep == []
