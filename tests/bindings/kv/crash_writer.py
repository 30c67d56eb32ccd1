"""Subprocess for test_crash.py: put keys as fast as possible, logging each one after its put returned."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from emulator.bindings.kv.binding import KVNamespace  # noqa: E402 - after the sys.path set-up above
from emulator.bindings.kv.engine import KVEngine, namespace_path  # noqa: E402 - after the sys.path set-up above
from emulator.clock import RealClock  # noqa: E402 - after the sys.path set-up above


async def main(state: Path, acked: Path) -> None:
    engine = KVEngine(namespace_path(state, "ns"), "ns")
    ns = KVNamespace(engine, "ns", RealClock())
    fd = os.open(acked, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    i = 0
    while True:
        key = f"k{i:07}"
        await ns.put(key, f"value {i}" * (1 + i % 50), metadata={"i": i})
        os.write(fd, f"{key}\n".encode())  # only after the put returned: acknowledged
        i += 1


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2])))
