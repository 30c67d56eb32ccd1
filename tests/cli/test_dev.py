"""`cf-emulator dev` as a real subprocess: ready lines, signals, exit codes, log formats."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.processes import http, ready_urls


def test_help_documents_the_options() -> None:
    out = subprocess.run([sys.executable, "-m", "emulator", "dev", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for text in ("--config", "--port", "--ip", "--persist-to", "--log-format", "--log-level", "--env",
                 "--no-watch", "--strict-runtime", "/_emulator/health", "/__scheduled", "ready: <name>", "SIGTERM",
                 "[dev] port", "--request-body-limit"):
        assert text in out, text


def test_dev_in_a_workspace_serves_every_app_and_stops_on_sigterm(workspace: Path, spawn: Any) -> None:
    dev = spawn(["--port", "0", "--no-watch"], workspace)  # no -c: the workspace file is found in cwd
    urls = ready_urls(dev)
    assert set(urls) == {"dev-shop", "dev-backend"}
    s3_line = dev.wait_for(lambda text: text.startswith("S3 endpoint: "))
    assert s3_line.startswith("S3 endpoint: http://127.0.0.1:")
    for url in urls.values():
        status, text = http("GET", url + "/_emulator/health")
        assert status == 200 and set(json.loads(text)["apps"]) == set(urls)
    assert http("GET", urls["dev-shop"] + "/api/greeting") == (200, "hello from shop")
    dev.wait_for(lambda text: text.startswith("[dev-shop] GET /api/greeting 200 OK ("))
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
    dev.wait_for(lambda text: text == "[dev-backend] processing order 9", timeout=15)
    assert dev.stop(signal.SIGTERM) == 0

    # Restarted at once: the order is already stored, not waiting for a redelivery.
    dev2 = spawn(["--port", "0", "--no-watch"], workspace)
    urls = ready_urls(dev2)
    status, text = http("GET", urls["dev-backend"] + "/orders/9")
    assert status == 200 and json.loads(text)["id"] == 9
    assert dev2.stop(signal.SIGINT) == 0


def test_request_body_limit_flag(workspace: Path, spawn: Any) -> None:
    bad = subprocess.run([sys.executable, "-m", "emulator", "dev", "--request-body-limit", "lots"], cwd=workspace,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "expected a size such as 200MB" in bad.stderr and "Traceback" not in bad.stderr
    dev = spawn(["-c", str(workspace / "backend"), "--port", "0", "--no-watch", "--request-body-limit", "3MB"],
                workspace)
    url = dev.wait_for(lambda text: text.startswith("ready: ")).split()[2]
    status, text = http("GET", url + "/_emulator/health")
    assert status == 200 and json.loads(text)["request_bodies"]["limit"] == 3_000_000
    req = urllib.request.Request(url + "/var", data=b"x" * 3_000_001, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=10)
    assert refused.value.code == 413 and b"<center>cloudflare</center>" in refused.value.read()
    assert dev.stop() == 0


def test_json_log_format(workspace: Path, spawn: Any) -> None:
    dev = spawn(["-c", str(workspace / "backend"), "--port", "0", "--no-watch", "--log-format", "json"],
                workspace)
    line = dev.wait_for(lambda text: '"ready: ' in text)
    record = json.loads(line)
    assert record["fields"]["app"] == "dev-backend"
    url = record["fields"]["url"]
    assert http("GET", url + "/var") == (200, "1")
    request = json.loads(dev.wait_for(lambda text: '"/var"' in text))
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


def test_errors_are_json_lines_with_the_json_log_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from emulator.cli import main

    missing = tmp_path / "nowhere" / "wrangler.toml"
    assert main(["dev", "-c", str(missing), "--log-format", "json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert [json.loads(line) for line in captured.err.splitlines()] == [
        {"level": "error", "source": "dev", "message": f"{missing} does not exist."}]
    assert main(["dev", "-c", str(missing)]) == 1
    assert capsys.readouterr().err == f"✘ [ERROR] {missing} does not exist.\n"


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


def test_allowed_host_names_are_checked_when_parsed(capsys: pytest.CaptureFixture[str]) -> None:
    from emulator.cli import build_parser

    args = build_parser().parse_args(["dev", "--allowed-host", "emulator", "--allowed-host", ".dev.test"])
    assert args.allowed_hosts == ["emulator", ".dev.test"]
    assert build_parser().parse_args(["dev"]).allowed_hosts is None
    for bad in ("a/b", "http://x", "", "two words"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["dev", "--allowed-host", bad])
        assert "is not a host name" in capsys.readouterr().err


def test_a_second_ctrl_c_stops_now_quietly_and_unfinished_work_survives(workspace: Path, spawn: Any) -> None:
    import threading

    (workspace / "shop" / "functions" / "api" / "sleep.py").write_text(
        "import asyncio\n\nfrom workers import Response\n\n\n"
        "async def on_request_get(context):\n    print('sleeping')\n    await asyncio.sleep(60)\n"
        "    return Response('late')\n")
    dev = spawn(["--port", "0", "--no-watch", "--shutdown-timeout", "60"], workspace)
    urls = ready_urls(dev)
    # In flight when the signals come: a batch (its consumer sleeps 60 s) and a request.
    assert http("POST", urls["dev-shop"] + "/api/order", {"id": 12, "slow": 60})[0] == 200
    dev.wait_for(lambda text: text == "[dev-backend] processing order 12", timeout=15)
    answers: list[Any] = []

    def slow_request() -> None:
        try:
            answers.append(http("GET", urls["dev-shop"] + "/api/sleep", timeout=60))
        except Exception as exc:  # noqa: BLE001 - the connection closes without an answer
            answers.append(exc)

    requester = threading.Thread(target=slow_request)
    requester.start()
    dev.wait_for(lambda text: text == "[dev-shop] sleeping", timeout=15)

    dev.proc.send_signal(signal.SIGINT)
    dev.wait_for(lambda text: "stopping gracefully" in text)
    dev.proc.send_signal(signal.SIGINT)
    assert dev.wait(timeout=30) == 130  # not the 60 s the handlers would take
    requester.join(10)
    err = dev.stderr_now()
    assert "Traceback" not in err and "Traceback" not in "\n".join(dev.lines), err
    assert any("stopping now" in line for line in dev.lines)
    assert not (workspace / ".emulator" / "server.json").exists()
    assert answers and not (isinstance(answers[0], tuple) and answers[0][0] == 200)

    # The batch was never acknowledged: the next start redelivers it (quickly this time).
    dev2 = spawn(["--port", "0", "--no-watch"], workspace)
    urls = ready_urls(dev2)
    deadline = time.monotonic() + 20
    while http("GET", urls["dev-backend"] + "/orders/12")[0] != 200:
        assert time.monotonic() < deadline, "order 12 was not redelivered"
        time.sleep(0.1)
    assert dev2.stop(signal.SIGINT) == 0


def test_ctrl_c_during_start_up_abandons_it_quietly(workspace: Path, spawn: Any) -> None:
    from emulator.state import StateDir
    from tests.helpers.processes import LockHolder

    # A CLI verb holding the state directory keeps `dev` in its start-up.
    holder = LockHolder(workspace / ".emulator", "cli", "cf-emulator queues send")
    try:
        dev = spawn(["--port", "0", "--no-watch"], workspace)
        dev.wait_for(lambda text: text.startswith(f"waiting for `cf-emulator queues send` (pid {holder.pid})"))
        dev.proc.send_signal(signal.SIGINT)
        assert dev.wait(timeout=30) == 130
    finally:
        holder.release()
    err = dev.stderr_now()
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "start abandoned" in dev.lines and not any(text.startswith("ready:") for text in dev.lines)
    assert StateDir(workspace / ".emulator").lock_holder() is None


def test_a_closed_stdout_stops_dev_gracefully_with_141(workspace: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run([sys.executable, "-m", "emulator", "dev", "--port", "0", "--no-watch"],
                                cwd=workspace, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)
    assert result.returncode == 141
    assert result.stderr == ""
    assert not (workspace / ".emulator" / "server.json").exists()
