"""`cf-emulator dev` as a real subprocess: ready lines, signals, exit codes, log formats."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest


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

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> str:
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
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError("dev exited; output:\n" + "\n".join(self.lines) + "\nstderr:\n"
                                     + self.stderr_now())
            self.lines.append(line)
            if predicate(line):
                return line

    def stderr_now(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return self.proc.stderr.read()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
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


@pytest.fixture
def spawn() -> Iterator[Any]:
    started: list[DevProcess] = []

    def start(args: list[str], cwd: Path) -> DevProcess:
        proc = DevProcess(args, cwd)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()


def http(method: str, url: str, body: Any = None) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def ready_urls(dev: DevProcess) -> dict[str, str]:
    urls = {}
    for _ in range(2):
        line = dev.wait_for(lambda l: l.startswith("ready: ") and l.split()[1] not in urls)
        _, name, url = line.split()
        urls[name] = url
    return urls


def test_help_documents_the_options() -> None:
    out = subprocess.run([sys.executable, "-m", "emulator", "dev", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for text in ("--config", "--port", "--ip", "--persist-to", "--log-format", "--log-level", "--env",
                 "--no-watch", "--strict-runtime", "/_emulator/health", "/__scheduled", "ready: <name>", "SIGTERM", "[dev] port"):
        assert text in out, text


def test_dev_in_a_workspace_serves_every_app_and_stops_on_sigterm(workspace: Path, spawn: Any) -> None:
    dev = spawn(["--port", "0", "--no-watch"], workspace)  # no -c: the workspace file is found in cwd
    urls = ready_urls(dev)
    assert set(urls) == {"dev-shop", "dev-backend"}
    s3_line = dev.wait_for(lambda l: l.startswith("S3 endpoint: "))
    assert s3_line.startswith("S3 endpoint: http://127.0.0.1:")
    for url in urls.values():
        status, text = http("GET", url + "/_emulator/health")
        assert status == 200 and set(json.loads(text)["apps"]) == set(urls)
    assert http("GET", urls["dev-shop"] + "/api/greeting") == (200, "hello from shop")
    dev.wait_for(lambda l: l.startswith("[dev-shop] GET /api/greeting 200 OK ("))
    server_file = workspace / ".emulator" / "server.json"
    info = json.loads(server_file.read_text())
    assert info["pid"] == dev.proc.pid and info["internal_url"] == urls["dev-shop"]

    assert dev.stop(signal.SIGTERM) == 0
    assert not server_file.exists()
    assert any("stopping gracefully" in line for line in dev.lines)


def test_sigterm_lets_an_in_flight_batch_finish(workspace: Path, spawn: Any) -> None:
    dev = spawn(["--port", "0", "--no-watch"], workspace)
    urls = ready_urls(dev)
    assert http("POST", urls["dev-shop"] + "/api/order", {"id": 9, "slow": 1.0})[0] == 200
    # The consumer prints this (prefixed with its app's name) when the batch starts.
    dev.wait_for(lambda l: l == "[dev-backend] processing order 9", timeout=15)
    assert dev.stop(signal.SIGTERM) == 0

    # Restarted at once: the order is already stored, not waiting for a redelivery.
    dev2 = spawn(["--port", "0", "--no-watch"], workspace)
    urls = ready_urls(dev2)
    status, text = http("GET", urls["dev-backend"] + "/orders/9")
    assert status == 200 and json.loads(text)["id"] == 9
    assert dev2.stop(signal.SIGINT) == 0


def test_json_log_format(workspace: Path, spawn: Any) -> None:
    dev = spawn(["-c", str(workspace / "backend"), "--port", "0", "--no-watch", "--log-format", "json"],
                workspace)
    line = dev.wait_for(lambda l: '"ready: ' in l)
    record = json.loads(line)
    assert record["fields"]["app"] == "dev-backend"
    url = record["fields"]["url"]
    assert http("GET", url + "/var") == (200, "1")
    request = json.loads(dev.wait_for(lambda l: '"/var"' in l))
    assert request["source"] == "http"
    assert request["fields"] == {"app": "dev-backend", "method": "GET", "path": "/var", "status": 200,
                                 "duration_ms": request["fields"]["duration_ms"]}
    assert dev.stop() == 0
    for out_line in dev.lines:
        json.loads(out_line)  # every stdout line is one JSON object


def test_pages_consumer_config_exits_1_with_the_hint(workspace: Path) -> None:
    config = workspace / "shop" / "wrangler.toml"
    config.write_text(config.read_text() + '\n[[queues.consumers]]\nqueue = "dev-orders"\n')
    result = subprocess.run([sys.executable, "-m", "emulator", "dev", "--port", "0", "--no-watch"],
                            cwd=workspace, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert 'Configuration file for Pages projects does not support "queues.consumers"' in result.stderr
    assert "consumers belong in a Worker" in result.stderr
    assert "Traceback" not in result.stderr
    assert "ready:" not in result.stdout


def test_no_config_anywhere_exits_1(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "emulator", "dev"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert "No wrangler.toml" in result.stderr and "Traceback" not in result.stderr


def test_dev_raises_the_first_gc_generation_threshold(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from emulator.cli import dev

    seen: list[tuple[int, ...]] = []

    async def fake_serve(args: Any, paths: Any, out: Any) -> int:
        seen.append(gc.get_threshold())
        return 0

    before = gc.get_threshold()
    monkeypatch.setattr(dev, "_serve", fake_serve)
    try:
        from emulator.cli import build_parser

        args = build_parser().parse_args(["dev", "-c", str(next(workspace.rglob("wrangler.toml")))])
        assert dev.run_dev(args) == 0
    finally:
        gc.set_threshold(*before)
    assert seen == [dev.GC_THRESHOLDS]


def test_var_pairs_split_at_the_first_colon_like_wrangler() -> None:
    from emulator.cli import build_parser
    from emulator.cli.dev import parse_vars

    args = build_parser().parse_args(["dev", "--var", "A:1", "URL:http://x:80", "--var", "EMPTY", "A:2"])
    assert parse_vars(args.var) == {"A": "2", "URL": "http://x:80", "EMPTY": ""}
    assert parse_vars(None) == {}
