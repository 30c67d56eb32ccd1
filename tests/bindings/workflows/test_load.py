"""Thousands of concurrent instances: all complete, every step runs exactly once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from emulator.bindings.workflows.engine import WorkflowEngine
from emulator.bindings.workflows.entrypoint import WorkflowEntrypoint
from emulator.clock import RealClock

INSTANCES = 2000


async def test_two_thousand_concurrent_instances(tmp_path: Path) -> None:
    ran: dict[str, int] = {}

    class ThreeSteps(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            @step.do("a")
            async def a() -> int:
                ran[event.instanceId] = ran.get(event.instanceId, 0) + 1
                return event.payload["n"]

            @step.do("b")
            async def b(a: int) -> int:
                ran[event.instanceId] += 1
                return a + 1

            @step.do("c")
            async def c(b: int) -> int:
                ran[event.instanceId] += 1
                return b * 2
            return await c()

    engine = WorkflowEngine(tmp_path / "workflows.sqlite3", RealClock())
    engine.register("three", lambda: ThreeSteps(None, {}))
    await engine.start()
    started = time.monotonic()
    try:
        binding = engine.binding("three")
        handles = await asyncio.gather(*(binding.create(id=f"i{n}", params={"n": n}) for n in range(INSTANCES)))
        # A bound on waiting, not a speed check (speed is bench/workflows.py's job): generous
        # enough for a loaded 2-core CI machine.
        deadline = started + 120
        while time.monotonic() < deadline:
            done = engine.store.query("SELECT COUNT(*) FROM instances WHERE status = 'complete'")[0][0]
            # Complete in the store, and the engine has let go of every instance's task.
            if done == INSTANCES and engine.is_idle():
                break
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - started
        assert done == INSTANCES, f"{done}/{INSTANCES} complete after {elapsed:.1f}s"
        assert engine.is_idle()
        assert set(ran.values()) == {3} and len(ran) == INSTANCES
        for n in (0, 977, INSTANCES - 1):
            assert (await handles[n].status()).output == (n + 1) * 2
        steps = engine.store.query("SELECT COUNT(*), SUM(attempts) FROM steps WHERE status = 'complete'")[0]
        assert tuple(steps) == (3 * INSTANCES, 3 * INSTANCES)
    finally:
        await engine.stop()
