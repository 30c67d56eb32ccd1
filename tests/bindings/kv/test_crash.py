"""kill -9 while writing: every put that returned is there after the restart, whole."""

from __future__ import annotations

import sys
from pathlib import Path

from emulator.bindings.kv.engine import KVEngine, namespace_path
from tests.helpers.processes import count_lines, kill_once_written

WRITER = Path(__file__).with_name("crash_writer.py")


def test_sigkill_loses_no_acknowledged_put(tmp_path: Path) -> None:
    acked = tmp_path / "acked.log"
    for _ in range(3):  # three kills, each restarting on what the last one left
        kill_once_written([sys.executable, str(WRITER), str(tmp_path), str(acked)], acked,
                          count_lines(acked) + 2000)
    keys = [line for line in acked.read_text().splitlines() if len(line) == 8]
    engine = KVEngine(namespace_path(tmp_path, "ns"), "ns")
    try:
        for key in keys:
            entry = engine.get(key, now_ms=0)
            i = int(key[1:])
            assert entry is not None, key
            assert entry.value == (f"value {i}" * (1 + i % 50)).encode() and entry.metadata == f'{{"i":{i}}}'
    finally:
        engine.close()
