"""Real processes for tests: a `cf-emulator dev` whose output is followed line by line, a
process that just holds a state directory's lock (as an emulator or a CLI verb), and a
writer SIGKILLed once it has acknowledged enough writes (the crash tests)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from collections.abc import Callable


class DevProcess:
    """A `cf-emulator dev` child whose stdout lines are collected by a reader thread."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "emulator", "dev", *args], cwd=cwd, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        for line in self.lines:
            if predicate(line):
                return line
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching line within {timeout}s; got:\n" + "\n".join(self.lines)
                                     + "\nstderr:\n" + self.stderr_now())
            try:
                got = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if got is None:
                raise AssertionError("dev exited; output:\n" + "\n".join(self.lines) + "\nstderr:\n"
                                     + self.stderr_now())
            self.lines.append(got)
            if predicate(got):
                return got

    def stderr_now(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return self.proc.stderr.read()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait(timeout)

    def wait(self, timeout: float = 20.0) -> int:
        code = self.proc.wait(timeout=timeout)
        while True:  # collect the rest of stdout
            try:
                line = self._queue.get(timeout=2)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def http(method: str, url: str, body: Any = None, timeout: float = 10) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def ready_urls(dev: DevProcess, count: int = 2) -> dict[str, str]:
    urls: dict[str, str] = {}
    for _ in range(count):
        line = dev.wait_for(lambda text: text.startswith("ready: ") and text.split()[1] not in urls)
        _, name, url = line.split()
        urls[name] = url
    return urls


def cli(*argv: str, cwd: Path, timeout: float = 60, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run one `cf-emulator` verb to completion."""
    return subprocess.run([sys.executable, "-m", "emulator", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, **kwargs)


_HOLDER = """
import json, sys
from emulator.state import StateDir, StateLock
state, role, command, info = StateDir(sys.argv[1]), sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
lock = StateLock(state)
if not lock.try_acquire(role, command):
    sys.exit("already held")
if info:
    state.write_server_info(info, lock)
print("held", flush=True)
sys.stdin.readline()
"""


class LockHolder:
    """Another process holding a state directory (role "emulator" or "cli") until ``release()``."""

    def __init__(self, state_dir: Path, role: str, command: str = "held-by-a-test",
                 server_info: dict[str, Any] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, str(state_dir), role, command, json.dumps(server_info or {})],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "held"
        self.pid = self.proc.pid

    def release(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(10)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def count_lines(path: Path) -> int:
    """Lines in ``path`` so far (0 before it exists)."""
    return len(path.read_text().splitlines()) if path.exists() else 0


def kill_once_written(argv: list[str], log: Path, lines: int, timeout: float = 60.0) -> None:
    """Run ``argv`` (a writer that appends a line to ``log`` per acknowledged write) and
    SIGKILL it once ``log`` holds ``lines`` lines: kill -9 in the middle of its work.

    Fails when the writer dies on its own first (with its stderr) or takes longer than
    ``timeout`` seconds (a wait on the writer's progress, not on the emulator's speed).
    """
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout
        while count_lines(log) < lines:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "the writer died"
            assert time.monotonic() < deadline, f"{argv[1]} did not write {lines} lines to {log}"
            time.sleep(0.01)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
