"""A workflow engine on a fake clock over a temporary state file, for the workflow tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emulator.bindings.workflows.engine import WorkflowEngine
from emulator.clock import FakeClock
from emulator.logs import EventLog


class Harness:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.clock = FakeClock(start=1_700_000_000.0)
        self.log = EventLog()
        self.engine = WorkflowEngine(path, self.clock, self.log)

    def register(self, name: str, cls: type, env: object = None, **kw: Any) -> None:
        self.engine.register(name, lambda: cls(None, env if env is not None else {}), **kw)

    async def settle(self) -> None:
        """Let runnable work finish (no time passes); bounded, since a step may be in flight."""
        for _ in range(60):
            await self.clock.settle()
            if self.engine.is_idle():
                return

    async def advance(self, seconds: float) -> None:
        await self.clock.advance(seconds)
        await self.settle()

    async def restart(self, definitions: dict[str, type] | None = None) -> None:
        """Stop the engine and open a new one on the same state file (a process restart)."""
        old = self.engine
        await old.stop()
        self.log = EventLog()
        self.engine = WorkflowEngine(self.path, self.clock, self.log)
        for name, d in old.definitions.items():
            self.engine.register(name, d.factory, step_limit=d.step_limit,
                                 preserve_non_retryable_message=d.preserve_non_retryable_message)
