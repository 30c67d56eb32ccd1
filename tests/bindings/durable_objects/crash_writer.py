"""Subprocess for test_crash.py: RPC calls that store a value and set an alarm, logged once acknowledged."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from emulator.bindings.durable_objects.entrypoint import DurableObject  # noqa: E402 - after the sys.path set-up above

ALARM_AT_MS = 1_700_003_600_000  # an hour after the helpers' fake start
FIRED: list[str] = []


class Writer(DurableObject):
    async def write(self, i: int) -> None:
        await self.ctx.storage.put(f"k{i:07}", {"i": i, "text": f"value {i}" * (1 + i % 20)})
        self.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS rows (i INTEGER PRIMARY KEY)")
        self.ctx.storage.sql.exec("INSERT OR REPLACE INTO rows VALUES (?)", i)  # may be there unacknowledged
        await self.ctx.storage.setAlarm(ALARM_AT_MS + i % 7)

    async def alarm(self) -> None:
        FIRED.append(self.ctx.id.name)


async def main(state: Path, acked: Path) -> None:
    from tests.helpers.durable_objects import do_platform

    fd = os.open(acked, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    async with do_platform(state.parent, {"WRITER": Writer}, state=state) as (_, env):
        i = 0
        start = len(acked.read_text().splitlines()) if acked.exists() else 0
        i = start
        while True:
            name = f"o{i % 50}"
            await env.WRITER.getByName(name).write(i)
            os.write(fd, f"{name} {i}\n".encode())  # only after the call returned: acknowledged
            i += 1


def run(argv: list[str]) -> Any:
    return asyncio.run(main(Path(argv[1]), Path(argv[2])))


if __name__ == "__main__":
    run(sys.argv)
