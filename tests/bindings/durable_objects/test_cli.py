"""`cf-emulator durable-objects ...` with and without a running `dev`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from emulator.clock import FakeClock
from emulator.config import check_paths
from emulator.platform import Platform
from tests.helpers.cli import run_cli, serve_internal_api
from tests.helpers.durable_objects import INSPECTED_APP, write_app


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = write_app(tmp_path, INSPECTED_APP, '[[durable_objects.bindings]]\nname = "ROOMS"\nclass_name = "Room"\n')
    monkeypatch.chdir(config.parent)
    return config


def out(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)


async def start(project: Path) -> Platform:
    """The app's platform, hosting the class from its module, with the lobby set up."""
    from emulator.runtime import create_host

    app = check_paths([project]).apps[0]
    platform = Platform([app], project.parent / ".emulator", clock=FakeClock())
    host = create_host(app, platform)
    host.load()
    platform.attach_host(host)
    await platform.start()
    ns = platform.plugins["durable_objects"].lookup("ROOMS")
    assert await ns.get_by_name("lobby").setup() == "ok"
    return platform


async def test_verbs_on_disk_and_through_a_running_dev(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    platform = await start(project)
    lobby = platform.plugins["durable_objects"].lookup("ROOMS").idFromName("lobby").toString()
    try:
        async for _ in serve_internal_api(platform):
            async def cli(*argv: str) -> int:
                return await asyncio.to_thread(run_cli, *argv)  # the server runs on this loop

            assert await cli("durable-objects", "list") == 0
            assert [n["key"] for n in out(capsys)] == ["app-Room"]
            assert await cli("durable-objects", "list", "--binding", "ROOMS") == 0
            assert [o["name"] for o in out(capsys)] == ["lobby"]
            assert await cli("durable-objects", "storage", "get", "title", "--binding", "ROOMS", "--name", "lobby") == 0
            assert out(capsys) == "lobby"
            assert await cli("durable-objects", "storage", "sql", "INSERT INTO messages (text) VALUES (?)",
                             "--param", "live", "--namespace", "Room", "--name", "lobby") == 0
            assert out(capsys)["rowsWritten"] == 1
            assert await cli("durable-objects", "evict", "--binding", "ROOMS") == 0
            assert out(capsys) == {"evicted": 1}
    finally:
        await platform.stop()
    # Without a running dev, the same verbs read the state directory.
    assert run_cli("durable-objects", "list", "--namespace", "app-Room") == 0
    assert out(capsys) == [{"id": lobby, "name": "lobby", "alarm": 4102444800000}]
    assert run_cli("durable-objects", "storage", "list", "--binding", "ROOMS", "--id", lobby) == 0
    assert [e["key"] for e in out(capsys)] == ["blob", "title"]
    assert run_cli("durable-objects", "storage", "sql", "SELECT count(*) AS n FROM messages", "--binding", "ROOMS",
                   "--name", "lobby") == 0
    assert out(capsys)["rows"] == [[3]]
    assert run_cli("durable-objects", "storage", "get", "nope", "--binding", "ROOMS", "--name", "lobby") == 0
    assert out(capsys) is None


def test_clear_errors(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("durable-objects", "list", "--binding", "NOPE") == 1
    assert 'binding named "NOPE" was not found' in capsys.readouterr().err
    assert run_cli("durable-objects", "storage", "list", "--namespace", "Room", "--name", "x") == 1
    assert "has data in" in capsys.readouterr().err
    assert run_cli("durable-objects", "evict", "--namespace", "Room") == 1
    assert "needs a running" in capsys.readouterr().err
    assert run_cli("durable-objects", "storage", "get", "k", "--namespace", "Room", "--id", "xyz") == 1
