"""kill -9 while objects write: every acknowledged write and alarm is there after the restart."""

from __future__ import annotations

import sys
from pathlib import Path

from emulator.clock import FakeClock
from tests.bindings.durable_objects.crash_writer import FIRED, Writer
from tests.helpers.durable_objects import START, do_platform
from tests.helpers.processes import count_lines, kill_once_written

WRITER = Path(__file__).with_name("crash_writer.py")


async def test_sigkill_loses_no_acknowledged_write_or_alarm(tmp_path: Path) -> None:
    state = tmp_path / "state"
    acked = tmp_path / "acked.log"
    for _ in range(2):  # two kills, each restarting on what the last one left
        kill_once_written([sys.executable, str(WRITER), str(state), str(acked)], acked, count_lines(acked) + 300)
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
