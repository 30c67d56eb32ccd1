"""`cf-emulator r2 object get|put|delete|list`: with and without a running `dev`."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from pathlib import Path

import pytest

from emulator.platform import Platform
from tests.helpers.cli import d1_r2_app, run_cli, serve_internal_api, write_config


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_config(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_put_get_list_delete_without_dev(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = bytes(range(256)) * 5000
    (project / "in.bin").write_bytes(data)
    assert run_cli("r2", "object", "put", "bucket/dir/../odd key.bin", "--file", "in.bin",
                   "--content-type", "application/x-test", "--local") == 0
    assert run_cli("r2", "object", "get", "bucket/dir/../odd key.bin", "--file", "out.bin") == 0
    assert (project / "out.bin").read_bytes() == data
    assert not (project / "odd key.bin").exists()
    capsys.readouterr()
    assert run_cli("r2", "object", "list", "bucket", "--json") == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["key"] == "dir/../odd key.bin" and listed["size"] == len(data)
    assert run_cli("r2", "object", "list", "bucket", "--prefix", "zzz", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []
    assert run_cli("r2", "object", "delete", "bucket/dir/../odd key.bin") == 0
    capsys.readouterr()
    assert run_cli("r2", "object", "get", "bucket/dir/../odd key.bin", "--pipe") == 1
    assert "The specified key does not exist" in capsys.readouterr().err


def test_pipe_in_and_out(project: Path, monkeypatch: pytest.MonkeyPatch,
                         capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"from stdin\x00")))
    assert run_cli("r2", "object", "put", "bucket/piped", "--pipe") == 0
    capsysbinary.readouterr()
    assert run_cli("r2", "object", "get", "bucket/piped", "--pipe") == 0
    assert capsysbinary.readouterr().out == b"from stdin\x00"


def test_bad_arguments_are_messages(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("r2", "object", "get", "no-slash") == 1
    assert "The object path must be in the form of {bucket}/{key}" in capsys.readouterr().err
    assert run_cli("r2", "object", "list", "unknown-bucket") == 1
    assert "does not exist" in capsys.readouterr().err
    assert run_cli("r2", "object", "put", "bucket/x", "--file", "missing.bin") == 1
    assert "missing.bin" in capsys.readouterr().err
    (project / "k.txt").write_text("x")
    assert run_cli("r2", "object", "put", "bucket/" + "k" * 1025, "--file", "k.txt") == 1
    assert "put: The specified object name is not valid. (10020)" in capsys.readouterr().err


async def test_with_a_running_dev_the_live_state_sees_cli_writes(project: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    platform = Platform([d1_r2_app(project)], project / ".emulator", s3_port=None)
    await platform.start()
    served = serve_internal_api(platform)
    try:
        await served.__anext__()
        bucket = platform.env_for(platform.apps[0]).BUCKET
        (project / "up.txt").write_text("uploaded while dev runs")
        assert await asyncio.to_thread(run_cli, "r2", "object", "put", "bucket/a/b.txt",
                                       "--file", "up.txt", "--content-type", "text/plain") == 0
        obj = await bucket.get("a/b.txt")  # the running process sees it without a restart
        assert await obj.text() == "uploaded while dev runs"
        assert obj.httpMetadata == {"contentType": "text/plain"}
        await bucket.put("from-app", "written by the app")
        assert await asyncio.to_thread(run_cli, "r2", "object", "get", "bucket/from-app",
                                       "--file", str(project / "got.txt")) == 0
        assert (project / "got.txt").read_text() == "written by the app"
        for i in range(3):
            await bucket.put(f"many/{i}", str(i))
        capsys.readouterr()
        assert await asyncio.to_thread(run_cli, "r2", "object", "list", "bucket", "--prefix", "many/",
                                       "--json") == 0
        assert [o["key"] for o in json.loads(capsys.readouterr().out)] == ["many/0", "many/1", "many/2"]
        assert await asyncio.to_thread(run_cli, "r2", "object", "delete", "bucket/from-app") == 0
        assert await bucket.head("from-app") is None
        assert await asyncio.to_thread(run_cli, "r2", "object", "get", "bucket/from-app", "--pipe") == 1
    finally:
        await served.aclose()
        await platform.stop()
    # and the same objects are there for the CLI without a dev (persisted write-through)
    capsys.readouterr()
    assert await asyncio.to_thread(run_cli, "r2", "object", "list", "bucket", "--json") == 0
    assert [o["key"] for o in json.loads(capsys.readouterr().out)] == ["a/b.txt", "many/0", "many/1", "many/2"]
