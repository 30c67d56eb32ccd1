"""`cf-emulator workflows ...` directly on a state dir and against a running emulator."""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
from pathlib import Path
from typing import Any
from collections.abc import Iterator

import pytest
from aiohttp import web

from emulator.bindings.workflows import cli as wf_cli
from emulator.bindings.workflows.engine import WorkflowEngine
from emulator.bindings.workflows.entrypoint import WorkflowEntrypoint
from emulator.bindings.workflows.routes import build_routes
from emulator.cli import run_verb
from emulator.clock import RealClock
from emulator.state import StateDir
from tests.helpers.state_dirs import announced_server


class Sleepy(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        value = await step.do("fetch", lambda: {"rows": event.payload["rows"]})
        if event.payload.get("sleep"):
            await step.sleep("nap", "1 hour")
        if event.payload.get("fail"):
            await step.do("boom", {"retries": {"limit": 0, "delay": 0}}, self.boom)
        return value["rows"]

    def boom(self) -> None:
        raise ValueError("no luck")


@pytest.fixture(autouse=True)
def outside_any_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the verbs where no wrangler config is found: only the state knows `sleepy`."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="cf-emulator")
    wf_cli.register(parser.add_subparsers(dest="verb"))
    code = run_verb(parser.parse_args(list(argv)))  # as `cf-emulator`'s main runs a verb
    out, err = capsys.readouterr()
    return code, out, err


def make_engine(state: Path) -> WorkflowEngine:
    engine = WorkflowEngine(StateDir(state).binding_dir("workflows") / "workflows.sqlite3", RealClock())
    engine.register("sleepy", lambda: Sleepy(None, {}), class_name="Sleepy", script_name="app")
    return engine


async def seed(state: Path) -> None:
    engine = make_engine(state)
    await engine.start()
    b = engine.binding("sleepy")
    await b.create(id="done", params={"rows": 3})
    await b.create(id="napping", params={"rows": 1, "sleep": True})
    await b.create(id="broken", params={"rows": 1, "fail": True})
    for _ in range(200):
        if engine.is_idle():
            break
        await asyncio.sleep(0.01)
    await engine.stop()


async def test_offline_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    await seed(tmp_path)
    code, out, _ = cli(capsys, "workflows", "list", "--persist-to", str(tmp_path), "--json")
    assert code == 0
    assert json.loads(out) == [{"name": "sleepy", "class_name": "Sleepy", "script_name": "app",
                                "instances": {"complete": 1, "waiting": 1, "errored": 1}, "total": 3}]
    code, out, _ = cli(capsys, "workflows", "list", "--persist-to", str(tmp_path))
    assert "sleepy" in out and "complete=1" in out

    code, out, _ = cli(capsys, "workflows", "instances", "list", "sleepy", "--persist-to", str(tmp_path),
                       "--status", "errored", "--json")
    assert [i["id"] for i in json.loads(out)] == ["broken"]
    code, out, _ = cli(capsys, "workflows", "instances", "list", "sleepy", "--persist-to", str(tmp_path))
    assert "napping" in out and "ValueError: no luck" in out

    code, out, _ = cli(capsys, "workflows", "instances", "describe", "sleepy", "broken",
                       "--persist-to", str(tmp_path), "--json")
    described = json.loads(out)
    assert described["error"] == {"name": "ValueError", "message": "no luck"}
    assert [(s["name"], s["attempts"], s["status"]) for s in described["steps"]] == [
        ("fetch", 1, "complete"), ("boom", 1, "errored")]
    code, out, _ = cli(capsys, "workflows", "instances", "describe", "sleepy", "napping", "--persist-to", str(tmp_path))
    assert "Status:" in out and "waiting" in out and "nap" in out and "until " in out

    code, _, err = cli(capsys, "workflows", "instances", "describe", "sleepy", "ghost", "--persist-to", str(tmp_path))
    assert code == 1 and "instance.not_found" in err and "Traceback" not in err
    code, _, err = cli(capsys, "workflows", "instances", "list", "ghostly", "--persist-to", str(tmp_path))
    assert code == 1 and 'No workflow named "ghostly"' in err and "Known workflows: sleepy." in err
    # Reading an empty (or mistyped) state directory creates nothing.
    code, out, _ = cli(capsys, "workflows", "list", "--persist-to", str(tmp_path / "empty"))
    assert (code, out.strip()) == (0, "No workflows.") and not (tmp_path / "empty").exists()


async def test_latest_names_the_newest_instance(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    await seed(tmp_path)
    code, out, _ = cli(capsys, "workflows", "instances", "describe", "sleepy", "--persist-to", str(tmp_path), "--json")
    newest = json.loads(out)
    code, out, _ = cli(capsys, "workflows", "instances", "list", "sleepy", "--persist-to", str(tmp_path), "--json")
    assert newest["id"] == max(json.loads(out), key=lambda i: (i["created"], i["id"]))["id"]
    code, out, _ = cli(capsys, "workflows", "instances", "describe", "sleepy", "latest", "--persist-to", str(tmp_path),
                       "--json")
    assert code == 0
    assert json.loads(out)["id"] == newest["id"]


async def test_offline_trigger_send_event_and_delete(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    await seed(tmp_path)
    state = ["--persist-to", str(tmp_path)]
    code, out, _ = cli(capsys, "workflows", "trigger", "sleepy", '{"rows": 9}', "--id", "later", *state)
    assert (code, out.strip()) == (0, '🚀 Workflow instance "later" has been triggered successfully')
    code, _, err = cli(capsys, "workflows", "trigger", "sleepy", '{"rows": 9}', "--id", "later", *state)
    assert code == 1 and "instance.already_exists" in err
    code, _, err = cli(capsys, "workflows", "trigger", "sleepy", "{not json", *state)
    assert code == 1 and "Error while parsing params" in err
    code, _, err = cli(capsys, "workflows", "trigger", "nosuch", *state)
    assert code == 1 and 'No workflow named "nosuch"' in err
    code, out, _ = cli(capsys, "workflows", "instances", "send-event", "sleepy", "latest", "--type", "go",
                       "--payload", '{"a": 1}', *state)
    assert code == 0 and 'The event with type "go" and payload "{"a": 1}" was sent to the instance "later"' in out

    engine = make_engine(tmp_path)
    await engine.start()
    try:
        assert (await asyncio.wait_for(engine.wait_finished("sleepy", "later"), 10)).output == 9
        rows = engine.store.query("SELECT type, payload FROM events WHERE instance = 'later'")
        assert [(r["type"], json.loads(r["payload"])) for r in rows] == [("go", {"a": 1})]
    finally:
        await engine.stop()
    code, out, _ = cli(capsys, "workflows", "delete", "sleepy", "--json", *state)
    assert code == 0 and json.loads(out) == {"workflow": "sleepy", "removed": 4}
    code, out, _ = cli(capsys, "workflows", "instances", "list", "sleepy", *state)
    assert out.strip() == 'No instances of workflow "sleepy".'


async def test_offline_actions_are_honoured_by_the_next_start(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    await seed(tmp_path)
    code, out, err = cli(capsys, "workflows", "instances", "terminate", "sleepy", "napping", "--persist-to",
                         str(tmp_path))
    assert code == 0 and out.strip() == '🥷 The instance "napping" from sleepy was terminated successfully'
    assert "no emulator running" in err
    code, _, err = cli(capsys, "workflows", "instances", "terminate", "sleepy", "done", "--persist-to", str(tmp_path))
    assert code == 1 and "(instance.cannot_terminate)" in err
    code, out, _ = cli(capsys, "workflows", "instances", "restart", "sleepy", "done", "--persist-to", str(tmp_path),
                       "--json")
    assert code == 0 and json.loads(out) == {"workflow": "sleepy", "id": "done", "status": "queued"}

    engine = make_engine(tmp_path)
    await engine.start()
    try:
        for _ in range(200):
            if engine.is_idle() and (await engine.status("sleepy", "done")).status == "complete":
                break
            await asyncio.sleep(0.01)
        assert (await engine.status("sleepy", "napping")).status == "terminated"
        assert (await engine.status("sleepy", "done")).output == 3
    finally:
        await engine.stop()


class ServerThread:
    """An engine and its routes served from a background loop, announced in server.json."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    async def _start(self) -> None:
        self.engine = make_engine(self.state)
        await self.engine.start()
        app = web.Application()
        app.add_routes(build_routes(self.engine))
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.announced = announced_server(StateDir(self.state), f"http://127.0.0.1:{port}")
        self.announced.__enter__()

    async def _stop(self) -> None:
        await self.runner.cleanup()
        await self.engine.stop()

    def __exit__(self, *exc: Any) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.announced.__exit__(None, None, None)


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[Path]:
    asyncio.run(seed(tmp_path))
    yield tmp_path


def test_against_a_running_emulator(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ServerThread(seeded) as server:
        code, out, err = cli(capsys, "workflows", "instances", "pause", "sleepy", "napping", "--persist-to",
                             str(seeded))
        assert code == 0 and "was paused successfully" in out and "no emulator running" not in err
        status = asyncio.run_coroutine_threadsafe(server.engine.status("sleepy", "napping"), server.loop).result(5)
        assert status.status == "paused"  # the live engine acted
        code, out, _ = cli(capsys, "workflows", "instances", "resume", "sleepy", "napping", "--persist-to", str(seeded),
                           "--json")
        assert json.loads(out)["status"] in ("running", "waiting")
        code, out, _ = cli(capsys, "workflows", "instances", "list", "sleepy", "--persist-to", str(seeded), "--json")
        assert {i["id"] for i in json.loads(out)} == {"done", "napping", "broken"}
        code, out, _ = cli(capsys, "workflows", "list", "--persist-to", str(seeded), "--json")
        assert json.loads(out)[0]["total"] == 3
        code, out, _ = cli(capsys, "workflows", "instances", "describe", "sleepy", "done", "--persist-to", str(seeded),
                           "--json")
        assert json.loads(out)["output"] == 3
        code, _, err = cli(capsys, "workflows", "instances", "terminate", "sleepy", "done", "--persist-to", str(seeded))
        assert code == 1 and "cannot_terminate" in err
        code, out, _ = cli(capsys, "workflows", "trigger", "sleepy", '{"rows": 5}', "--id", "live", "--persist-to",
                           str(seeded))
        assert code == 0 and '"live" has been triggered successfully' in out
        done = asyncio.run_coroutine_threadsafe(server.engine.wait_finished("sleepy", "live"), server.loop).result(10)
        assert done.output == 5  # the running engine ran it at once
        code, out, _ = cli(capsys, "workflows", "instances", "send-event", "sleepy", "napping", "--type", "t",
                           "--persist-to", str(seeded), "--json")
        assert code == 0 and json.loads(out)["type"] == "t"
        code, out, _ = cli(capsys, "workflows", "delete", "sleepy", "--persist-to", str(seeded))
        assert out.strip() == '✅ Workflow "sleepy" instances removed successfully from local dev session.'
        code, out, _ = cli(capsys, "workflows", "instances", "list", "sleepy", "--persist-to", str(seeded), "--json")
        assert json.loads(out) == []
