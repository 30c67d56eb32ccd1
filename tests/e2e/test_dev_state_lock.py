"""One process per state directory (docs/cli.md): a second `dev`, an in-process
``Emulator``, CLI verbs with and without a live `dev`, a `dev` started during a CLI write,
and a `dev` killed with -9."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from emulator import Emulator, FakeClock
from emulator import emulator as emulator_module
from emulator.emulator import StateDirInUse
from emulator.logs import EventLog
from emulator.state import LockHolder as HolderRecord
from emulator.state import StateDir

from tests.helpers.processes import LockHolder, cli, http, ready_urls


def wait_until(predicate: Any, timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"{what} not reached within {timeout}s")


def test_a_second_dev_stops_at_once_and_the_first_keeps_serving(workspace: Path, spawn: Any) -> None:
    first = spawn(["--port", "0", "--no-watch"], workspace)
    urls = ready_urls(first)
    server_file = workspace / ".emulator" / "server.json"
    before = server_file.read_bytes()
    mtime = server_file.stat().st_mtime_ns

    second = spawn(["--port", "0", "--no-watch"], workspace)
    assert second.wait(timeout=30) == 1
    err = second.stderr_now()
    assert "Traceback" not in err and "ready:" not in "\n".join(second.lines)
    assert f"is in use by another emulator: pid {first.proc.pid} (cf-emulator dev)" in err
    for name, url in urls.items():
        assert f"{name} {url}" in err  # the holder's ports
    assert "--persist-to" in err
    # The second process never touched server.json; the first still serves.
    assert server_file.read_bytes() == before and server_file.stat().st_mtime_ns == mtime
    assert http("GET", urls["dev-shop"] + "/api/greeting") == (200, "hello from shop")

    # A CLI send reaches the live process: its consumer stores the order at once.
    sent = cli("queues", "send", "dev-orders", '{"id": 5}', cwd=workspace)
    assert sent.returncode == 0, sent.stderr
    wait_until(lambda: http("GET", urls["dev-backend"] + "/orders/5")[0] == 200, what="order 5 delivered")
    assert first.stop(signal.SIGTERM) == 0
    assert not server_file.exists()


def test_kill_9_releases_the_directory_and_the_cli_ignores_the_stale_server_json(
        workspace: Path, spawn: Any) -> None:
    dev = spawn(["--port", "0", "--no-watch"], workspace)
    ready_urls(dev)
    os.kill(dev.proc.pid, signal.SIGKILL)
    dev.proc.wait(10)
    server_file = workspace / ".emulator" / "server.json"
    assert server_file.exists()  # left behind by the kill, naming a dead pid

    # No emulator: the verb works on the files (it would fail calling the dead address).
    sent = cli("queues", "send", "dev-orders", '{"id": 6}', cwd=workspace)
    assert sent.returncode == 0 and "Sent message" in sent.stdout, sent.stderr

    dev2 = spawn(["--port", "0", "--no-watch"], workspace)
    urls = ready_urls(dev2)
    assert json.loads(server_file.read_text())["pid"] == dev2.proc.pid
    # The message sent while no `dev` ran is delivered by the new one.
    wait_until(lambda: http("GET", urls["dev-backend"] + "/orders/6")[0] == 200, what="order 6 delivered")
    assert dev2.stop(signal.SIGINT) == 0


def test_a_dev_started_during_a_cli_write_waits_for_it(workspace: Path, spawn: Any) -> None:
    created = cli("d1", "execute", "DB", "--command", "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)",
                  cwd=workspace)
    assert created.returncode == 0, created.stderr
    state = StateDir(workspace / ".emulator")
    db_file = next((state.root / "d1").glob("*.sqlite3"))

    # The test holds SQLite's write lock, so the CLI's INSERT waits inside its write, holding
    # the state directory; SIGSTOP then keeps it there as long as the test needs.
    blocker = sqlite3.connect(db_file, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    import subprocess
    import sys

    writer = subprocess.Popen([sys.executable, "-m", "emulator", "d1", "execute", "DB", "--command",
                               "INSERT INTO notes (text) VALUES ('written by the CLI')"],
                              cwd=workspace, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        holder = wait_until(lambda: (h := state.lock_holder()) is not None and h.pid == writer.pid and h,
                            what="the CLI holding the state directory")
        assert holder.role == "cli" and holder.command == "cf-emulator d1 execute"
        os.kill(writer.pid, signal.SIGSTOP)
        blocker.execute("COMMIT")
        blocker.close()

        dev = spawn(["--port", "0", "--no-watch"], workspace)
        dev.wait_for(lambda text: text.startswith(f"waiting for `cf-emulator d1 execute` (pid {writer.pid})"))
        assert dev.proc.poll() is None and not any(text.startswith("ready:") for text in dev.lines)
        os.kill(writer.pid, signal.SIGCONT)
        _, err = writer.communicate(timeout=30)
        assert writer.returncode == 0, err
    finally:
        if writer.poll() is None:
            os.kill(writer.pid, signal.SIGCONT)
            writer.kill()
    urls = ready_urls(dev)
    assert http("GET", urls["dev-backend"] + "/notes") == (200, '["written by the CLI"]')
    assert dev.stop() == 0


# --- the Emulator class (dev, the pytest plugin, in-process users) -----------------------
async def test_an_emulator_refuses_a_directory_another_emulator_holds(workspace: Path) -> None:
    state = workspace / ".emulator"
    other = LockHolder(state, "emulator", "cf-emulator dev", server_info={
        "internal_url": "http://127.0.0.1:8787",
        "apps": {"dev-shop": {"url": "http://127.0.0.1:8787", "port": 8787}},
        "s3_endpoint": "http://127.0.0.1:9000"})
    try:
        before = (state / "server.json").read_bytes()
        emu = Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=0, log=EventLog())
        with pytest.raises(StateDirInUse) as caught:
            await emu.start()
        message = str(caught.value)
        assert f"pid {other.pid} (cf-emulator dev), serving dev-shop http://127.0.0.1:8787" in message
        assert "S3 endpoint http://127.0.0.1:9000" in message
        assert (state / "server.json").read_bytes() == before
        assert not (state / "queues").exists()  # no store was opened
    finally:
        other.release()
    # Released: the same emulator object starts now.
    await emu.start()
    await emu.stop()


async def test_a_holder_still_starting_is_named_without_ports(workspace: Path) -> None:
    other = LockHolder(workspace / ".emulator", "emulator", "pytest tests")
    try:
        with pytest.raises(StateDirInUse, match=rf"pid {other.pid} \(pytest tests\), still starting"):
            await Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=0).start()
    finally:
        other.release()


async def test_an_emulator_waits_for_a_cli_verb_then_refuses_past_the_bound(
        workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emulator_module, "CLI_HOLDER_WAIT", 0.5)
    state = workspace / ".emulator"
    other = LockHolder(state, "cli", "cf-emulator r2 object put")
    try:
        log = EventLog()
        with pytest.raises(StateDirInUse, match=rf"`cf-emulator r2 object put` \(pid {other.pid}\), which did "
                                                r"not finish within 0.5s"):
            await Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=0, log=log).start()
        assert any(m.startswith(f"waiting for `cf-emulator r2 object put` (pid {other.pid})")
                   for m in log.messages(source="dev"))
    finally:
        other.release()


async def test_the_lock_is_released_after_a_failed_start_and_after_stop(workspace: Path) -> None:
    (workspace / "backend" / "migrations" / "0002_broken.sql").write_text("CREATE TABLE (;\n")
    state = StateDir(workspace / ".emulator")
    with pytest.raises(emulator_module.StartError):
        await Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=0, apply_migrations=True).start()
    assert state.lock_holder() is None
    async with Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=0) as emu:
        holder = state.lock_holder()
        assert isinstance(holder, HolderRecord) and holder.pid == os.getpid() and holder.role == "emulator"
        info = state.read_server_info()
        assert info is not None and info["internal_url"] == emu.internal_url
    assert state.lock_holder() is None and not state.server_file.exists()
