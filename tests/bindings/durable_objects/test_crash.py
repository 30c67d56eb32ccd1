"""kill -9 while objects write: every acknowledged write and alarm is there after the restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from emulator.clock import FakeClock
from tests.bindings.durable_objects.crash_writer import FIRED, Writer
from tests.helpers.durable_objects import START, do_platform

WRITER = Path(__file__).with_name("crash_writer.py")


async def test_sigkill_loses_no_acknowledged_write_or_alarm(tmp_path: Path) -> None:
    state = tmp_path / "state"
    acked = tmp_path / "acked.log"
    for _ in range(2):  # two kills, each restarting on what the last one left
        proc = subprocess.Popen([sys.executable, str(WRITER), str(state), str(acked)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        start = len(acked.read_text().splitlines()) if acked.exists() else 0
        deadline = time.monotonic() + 60
        while (len(acked.read_text().splitlines()) if acked.exists() else 0) < start + 300:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "writer died"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        if proc.stderr:
            proc.stderr.close()
    lines = [line.split() for line in acked.read_text().splitlines() if len(line.split()) == 2]
    assert len(lines) >= 600
    FIRED.clear()
    clock = FakeClock(start=START)
    async with do_platform(tmp_path, {"WRITER": Writer}, state=state, clock=clock) as (platform, _):
        ns = platform.plugins["durable_objects"].lookup("WRITER")
        for name, i in lines:
            value = await ns.storage(name).get(f"k{int(i):07}")
            assert value is not None and value["i"] == int(i), (name, i)
        for name in {name for name, _ in lines}:
            rows = await ns.run(name, lambda inst, ctx: ctx.storage.sql.exec("SELECT i FROM rows").toArray())
            stored = {r["i"] for r in rows}
            assert {int(i) for n, i in lines if n == name} <= stored
        await clock.advance(3601)
        await platform.drain(timeout=10)
        # Every object that acknowledged a setAlarm gets its alarm after the restart.
        assert set(FIRED) == {name for name, _ in lines}
