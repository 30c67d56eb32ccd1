"""`cf-emulator dev` as a child process in an app's folder, as a developer runs it.

``DevServer(folder, *args)`` starts ``python -m emulator dev --port 0 --no-watch`` there
(``watch=True``: with hot reload) and waits for the ``ready: <name> <url>`` line; ``url`` is the app's
address. When the app cannot start, ``start()`` raises ``AssertionError`` with dev's output (so a test marked
``xfail`` fails in its body, not in a fixture).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType


class DevServer:
    def __init__(self, folder: Path, *args: str, timeout: float = 90.0, watch: bool = False) -> None:
        self.folder = folder
        self.args = list(args) if watch else ["--no-watch", *args]
        self.timeout = timeout
        self.lines: list[str] = []
        self.proc: subprocess.Popen[str] | None = None
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.url = ""

    def start(self) -> DevServer:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emulator", "dev", "--port", "0", "--no-s3", *self.args],
            cwd=self.folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + self.timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise AssertionError(f"cf-emulator dev did not get ready in {self.timeout}s:\n" + self.output())
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError("cf-emulator dev exited before it was ready:\n" + self.output())
            if line.startswith("ready: "):
                self.url = line.split()[2]
                return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(None)

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, text: str, timeout: float = 30.0) -> str:
        """The first output line containing ``text`` (waiting for it to be printed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no output line with {text!r} within {timeout}s:\n" + self.output())

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
