"""Which state directory CLI verbs use (an app inside a workspace shares the workspace's),
and whether they talk to the emulator holding it or work on its files."""

from __future__ import annotations

import argparse
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.cli import _common as common
from emulator.cli._common import StateDirBusy, release_state_dirs, resolve_state_dir, running_server
from emulator.errors import CliError
from emulator.state import StateDir, StateLock

from tests.helpers.state_dirs import announced_server


def layout(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "repo"
    app = root / "apps" / "worker"
    app.mkdir(parents=True)
    (root / "wrangler.toml").write_text('[workspace]\napps = ["apps/worker"]\n')
    (app / "wrangler.toml").write_text('name = "w"\nmain = "src/entry.py"\n')
    return root, app


def args(config: Path | None = None, persist: Path | None = None) -> argparse.Namespace:
    return argparse.Namespace(config=str(config) if config else None,
                              persist_to=str(persist) if persist else None)


def test_verbs_follow_the_state_directory_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The rule itself is tested in tests/config/test_statedir.py; the verbs use it as is.
    root, app = layout(tmp_path)
    for config in (app / "wrangler.toml", app, root / "wrangler.toml"):
        assert resolve_state_dir(args(config)).root == (root / ".emulator").resolve()
    monkeypatch.chdir(app)
    assert resolve_state_dir(args()).root == (root / ".emulator").resolve()
    assert resolve_state_dir(args(app, tmp_path / "s")).root == (tmp_path / "s").resolve()
    (root / "wrangler.toml").write_text('name = "not-a-workspace"\n')
    assert resolve_state_dir(args(app)).root == (app / ".emulator").resolve()


def test_an_old_app_state_directory_is_named_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, app = layout(tmp_path)
    (app / ".emulator").mkdir()
    assert resolve_state_dir(args(app)).root == (root / ".emulator").resolve()
    assert resolve_state_dir(args(app)).root == (root / ".emulator").resolve()
    err = capsys.readouterr().err
    assert err.count(f"{app / '.emulator'} is not used") == 1 and str(root / ".emulator") in err


def test_reading_verbs_neither_create_nor_lock_a_missing_directory(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "typo" / "state")
    assert running_server(state, create=False) is None
    assert not (tmp_path / "typo").exists()
    assert state.root not in common._held


# --- live process or files: decided under the state directory's lock ---------------------
def test_with_nobody_holding_it_the_verb_takes_the_directory(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "s")
    # A server.json left by a killed `dev` is never trusted.
    state.root.mkdir()
    state.server_file.write_text(json.dumps({"internal_url": "http://127.0.0.1:1", "pid": os.getpid()}))
    try:
        assert running_server(state) is None
        holder = state.lock_holder()
        assert holder is not None and (holder.pid, holder.role) == (os.getpid(), "cli")
        assert running_server(state) is None  # asked again: still ours, no waiting on ourselves
        assert not StateLock(state).try_acquire("emulator")  # a `dev` would have to wait
    finally:
        release_state_dirs()
    assert state.lock_holder() is None


def test_an_emulator_serving_the_directory_is_talked_to(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    with announced_server(state, "http://127.0.0.1:9"):
        assert running_server(state) == "http://127.0.0.1:9"
    assert state.lock_holder() is None  # the verb took nothing


def test_an_emulator_still_starting_is_waited_for(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    lock = StateLock(state)
    assert lock.try_acquire("emulator", "cf-emulator dev")
    # Its ports get bound a moment later; the stale file from an earlier run never counts.
    state.server_file.write_text(json.dumps({"internal_url": "http://127.0.0.1:1", "pid": os.getpid(),
                                             "lock_token": "an-earlier-run"}))
    timer = threading.Timer(0.3, lambda: state.write_server_info({"internal_url": "http://127.0.0.1:9"}, lock))
    timer.start()
    try:
        assert running_server(state) == "http://127.0.0.1:9"
    finally:
        timer.join()
        lock.release()


def test_an_emulator_that_never_serves_is_waited_for_a_bounded_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "STATE_WAIT", 0.3)
    state = StateDir(tmp_path)
    lock = StateLock(state)
    assert lock.try_acquire("emulator", "cf-emulator dev")
    try:
        with pytest.raises(StateDirBusy,
                           match=rf"emulator \(pid {os.getpid()} \(cf-emulator dev\)\) that is not serving"):
            running_server(state)
        assert not (tmp_path / "queues").exists()  # and nothing was opened on disk
    finally:
        lock.release()


def test_another_verb_on_the_files_is_waited_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = StateDir(tmp_path)
    other = StateLock(state)
    assert other.try_acquire("cli", "cf-emulator r2 object put")
    timer = threading.Timer(0.3, other.release)
    timer.start()
    try:
        assert running_server(state) is None
        holder = state.lock_holder()
        assert holder is not None and holder.role == "cli" and holder.token != ""
    finally:
        timer.join()
        release_state_dirs()
    monkeypatch.setattr(common, "STATE_WAIT", 0.2)
    assert other.try_acquire("cli", "cf-emulator r2 object put")
    try:
        with pytest.raises(StateDirBusy, match=r"in use by `cf-emulator r2 object put` \(pid \d+\)"):
            running_server(state)
    finally:
        other.release()


def test_a_busy_directory_is_one_error_line_from_main(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from emulator.cli import main

    monkeypatch.setattr(common, "STATE_WAIT", 0.2)
    state = StateDir(tmp_path)
    lock = StateLock(state)
    assert lock.try_acquire("emulator", "cf-emulator dev")
    try:
        assert main(["queues", "list", "--persist-to", str(tmp_path)]) == 1
    finally:
        lock.release()
    err = capsys.readouterr().err
    assert err.startswith("✘ [ERROR] The state directory") and "Traceback" not in err


def test_a_target_refuses_to_write_files_an_emulator_started_serving(tmp_path: Path) -> None:
    target = common.StateTarget(args(persist=tmp_path / "s"), reading=False)
    assert target.url is None and not (tmp_path / "s").exists()  # looked at only: nothing created
    with announced_server(StateDir(tmp_path / "s"), "http://127.0.0.1:9"):
        with pytest.raises(CliError, match="An emulator started on this state directory meanwhile"):
            target.hold_files()
    target = common.StateTarget(args(persist=tmp_path / "s"), reading=False)
    try:
        target.hold_files()  # nobody serves it now: this verb holds it
        holder = StateDir(tmp_path / "s").lock_holder()
        assert target.url is None and holder is not None and holder.role == "cli"
    finally:
        release_state_dirs()


def test_a_missing_config_names_the_flag_that_does_without_one(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert common.config_path(args()) is None
    with pytest.raises(CliError, match=r"^No wrangler config found: pass -c PATH, or --namespace\.$"):
        common.require_config(args(tmp_path / "nope.toml"), "--namespace")
    (tmp_path / "wrangler.toml").write_text('name = "w"\n')
    assert common.require_config(args(), "--namespace") == (tmp_path / "wrangler.toml").resolve()



def test_verbs_dev_and_check_find_the_same_config_as_wrangler(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """wrangler searches upward for wrangler.json, then .jsonc, then .toml (docs/check.md):
    a wrangler.json above wins over a wrangler.toml here. Every command uses that one rule."""
    from emulator.cli.dev import config_paths
    from emulator.config import find_config

    here = tmp_path / "app"
    here.mkdir()
    (here / "wrangler.toml").write_text('name = "here"\n')
    (tmp_path / "wrangler.json").write_text('{"name": "above"}\n')
    monkeypatch.chdir(here)
    above = (tmp_path / "wrangler.json").resolve()
    assert find_config(here) == above  # what `check` uses for a folder
    assert common.config_path(args()) == above
    assert config_paths(argparse.Namespace(config=None)) == [above]


# --- the verbs' plumbing ------------------------------------------------------------------------
def test_a_command_group_given_no_command_prints_its_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="cf-emulator")
    group = common.add_command_group(parser.add_subparsers(dest="verb"), "kv", "kv_command", help="KV")
    group.add_parser("get").set_defaults(func=lambda args: 0)
    parsed = parser.parse_args(["kv"])
    assert parsed.func(parsed) == 2 and capsys.readouterr().out.startswith("usage: cf-emulator kv [-h] COMMAND")
    parsed = parser.parse_args(["kv", "get"])
    assert parsed.func(parsed) == 0 and parsed.kv_command == "get"


def test_internal_api_paths_quote_their_parts() -> None:
    assert common.api_path("http://127.0.0.1:9", "kv", "namespaces", "a/b c") == "/_emulator/kv/namespaces/a%2Fb%20c"
    # server.json may name the internal API itself rather than the app's base URL.
    assert common.api_path("http://127.0.0.1:9/_emulator/", "queues") == "/queues"


@pytest.fixture
def answering_server() -> Iterator[str]:
    """An HTTP server answering ``/<status>`` with that status and a JSON error body."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = int(self.path.strip("/"))
            body = json.dumps({"error": "nope", "status": status, "message": f"answered {status}"}).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_404_answers_what_the_verb_shows_for_not_there(answering_server: str) -> None:
    assert common.call_server(answering_server, "GET", "/200") == {"error": "nope", "status": 200,
                                                                   "message": "answered 200"}
    assert common.call_server(answering_server, "GET", "/404", missing=None) is None
    assert common.call_server(answering_server, "GET", "/404", missing=[]) == []
    with pytest.raises(common.ServerError) as raised:
        common.call_server(answering_server, "GET", "/404")
    assert raised.value.status == 404 and raised.value.message == "answered 404"
    with pytest.raises(common.ServerError) as raised:
        common.call_server(answering_server, "GET", "/500", missing=None)  # only "not there" has an answer
    assert raised.value.status == 500


def test_verb_errors_become_one_line_the_bindings_own_phrased_first(tmp_path: Path) -> None:
    from emulator.errors import JsError

    def failing(error: BaseException) -> common.Verb:
        def verb(args: argparse.Namespace) -> int:
            raise error
        return verb

    def known(exc: Exception) -> str | None:
        return f"mine: {exc}" if isinstance(exc, (KeyError, OSError)) else None

    def message(error: BaseException, binding: common.ErrorMessages | None = known) -> str:
        with pytest.raises(CliError) as raised:
            common.cli_errors(failing(error), binding)(argparse.Namespace())
        return raised.value.message

    assert message(KeyError("k")) == "mine: 'k'"
    assert message(OSError(2, "No such file", "f")) == "mine: [Errno 2] No such file: 'f'"
    assert message(OSError(2, "No such file", str(tmp_path / "f")), None) == f"No such file: {tmp_path / 'f'}"
    assert message(JsError("bad key", "TypeError")) == "bad key"
    assert message(common.ServerError(409, {"message": "busy"})) == "busy"
    assert message(CliError("as it is", 2)) == "as it is"
    for passing in (BrokenPipeError(), ZeroDivisionError("a bug keeps its traceback")):
        with pytest.raises(type(passing)):
            common.cli_errors(failing(passing), known)(argparse.Namespace())
    assert common.cli_errors(lambda args: 0)(argparse.Namespace()) == 0
