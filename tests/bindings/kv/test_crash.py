"""kill -9 while writing: every put that returned is there after the restart, whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from emulator.bindings.kv.engine import KVEngine, namespace_path

WRITER = Path(__file__).with_name("crash_writer.py")


def test_sigkill_loses_no_acknowledged_put(tmp_path: Path) -> None:
    acked = tmp_path / "acked.log"
    for _ in range(3):  # three kills, each restarting on what the last one left
        proc = subprocess.Popen([sys.executable, str(WRITER), str(tmp_path), str(acked)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        start = len(acked.read_text().splitlines()) if acked.exists() else 0
        deadline = time.monotonic() + 60
        while (len(acked.read_text().splitlines()) if acked.exists() else 0) < start + 2000:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "writer died"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        if proc.stderr:
            proc.stderr.close()
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
