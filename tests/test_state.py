"""The state directory: per-binding folders, no escape, its lock, discovery of a running dev."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from emulator.state import LockHolder, StateDir, StateLock, StatePathError, describe_process, safe_component


def test_binding_dirs_are_created_under_the_root(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "s")
    assert state.binding_dir("queues") == (tmp_path / "s" / "queues").resolve()
    assert state.binding_dir("queues").is_dir()


@pytest.mark.parametrize("name", ["my/ Queue", "..", ".", "../../etc/passwd", "a\\b", ""])
def test_safe_component_never_leaves_the_folder(tmp_path: Path, name: str) -> None:
    part = safe_component(name)
    assert "/" not in part and "\\" not in part and part not in {"", ".", ".."}
    assert (tmp_path / part).resolve().parent == tmp_path.resolve()


def test_safe_component_keeps_distinct_names_distinct() -> None:
    assert safe_component("a/b") != safe_component("a_b") != safe_component("a b")


def test_inside_refuses_traversal(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    assert state.inside("r2", "x") == (tmp_path / "state" / "r2" / "x").resolve()
    for parts in (("..", "elsewhere"), ("r2", "..", "..", "x"), ("/etc/passwd",), ("r2", str(tmp_path)),
                  ("r2/../../x",)):
        with pytest.raises(StatePathError):
            state.inside(*parts)
    # Backslashes and percent-encodings are plain characters on POSIX: they stay inside.
    for parts in (("..\\x",), ("%2e%2e", "x"), ("r2", "a\\..\\..\\b")):
        assert state.root in state.inside(*parts).parents
    state.root.mkdir(parents=True, exist_ok=True)
    os.symlink(tmp_path, tmp_path / "state" / "out")
    with pytest.raises(StatePathError):
        state.inside("out", "x")  # a symlink leading out does not count as inside


@pytest.mark.parametrize("name", ["%2e%2e", "/abs/path", "C:\\Windows", "a\x00b", "..%2f..", "~"])
def test_safe_component_of_hostile_names(tmp_path: Path, name: str) -> None:
    part = safe_component(name)
    assert "/" not in part and "\\" not in part and "\x00" not in part and part not in {"", ".", ".."}
    assert (tmp_path / part).resolve().parent == tmp_path.resolve()


def test_server_info_counts_only_under_the_lock_that_wrote_it(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    assert state.read_server_info() is None
    lock = StateLock(state)
    assert lock.try_acquire("emulator")
    state.write_server_info({"internal_url": "http://127.0.0.1:1"}, lock)
    info = state.read_server_info()
    assert info is not None and info["pid"] == os.getpid() and info["lock_token"] == lock.token
    # Our own pid, but not the token of the lock being held: a leftover, ignored.
    state.server_file.write_text(json.dumps({**info, "lock_token": "stale"}))
    assert state.read_server_info() is None
    state.write_server_info({"internal_url": "http://127.0.0.1:1"}, lock)
    lock.release()
    assert state.read_server_info() is None  # nobody holds the directory: the file is stale
    state.clear_server_info()
    assert not state.server_file.exists()


def test_only_the_holder_writes_server_info(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    with pytest.raises(RuntimeError):
        state.write_server_info({"internal_url": "x"}, StateLock(state))
    assert not state.server_file.exists()


def test_the_lock_is_exclusive_even_within_one_process(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "s")
    first, second = StateLock(state), StateLock(state)
    assert first.try_acquire("emulator", "cf-emulator dev")
    assert first.held and not second.try_acquire("cli")
    holder = LockHolder.read(state.lock_file)
    assert (holder.pid, holder.role, holder.command, holder.known) == (os.getpid(), "emulator", "cf-emulator dev", True)
    assert holder.token == first.token and holder.describe() == f"pid {os.getpid()} (cf-emulator dev)"
    first.release()
    assert not first.held
    assert state.lock_file.read_text() == ""  # a clean release names nobody
    assert second.try_acquire("cli")
    second.release()


def test_lock_holder_probes_without_taking_the_lock(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    assert state.lock_holder() is None  # no lock file yet
    lock = StateLock(state)
    assert lock.try_acquire("cli", "cf-emulator queues send")
    holder = state.lock_holder()
    assert holder is not None and holder.role == "cli" and holder.command == "cf-emulator queues send"
    lock.release()
    assert state.lock_holder() is None
    assert lock.try_acquire("emulator")  # the probe left nothing behind
    lock.release()


def test_kill_9_releases_the_lock_and_its_content_names_nobody_alive(tmp_path: Path) -> None:
    from tests.helpers.processes import LockHolder as HolderProcess

    state = StateDir(tmp_path)
    other = HolderProcess(tmp_path, "emulator", "cf-emulator dev")
    try:
        holder = state.lock_holder()
        assert holder is not None and holder.pid == other.pid and holder.known
        assert not StateLock(state).try_acquire("emulator")
    finally:
        other.kill()
    # The kernel dropped the lock; the content it left names a dead process.
    stale = LockHolder.read(state.lock_file)
    assert stale.pid == other.pid and not stale.known and stale.describe() == "another process"
    assert state.lock_holder() is None
    lock = StateLock(state)
    assert lock.try_acquire("emulator")
    lock.release()


def test_unreadable_lock_content_is_an_unknown_holder(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    for content in ("", "{not json", '{"pid": "x"}', "[]"):
        path.write_text(content)
        assert not LockHolder.read(path).known


@pytest.mark.parametrize(("argv", "expected"), [
    (["/usr/bin/cf-emulator", "queues", "send", "jobs", '{"secret": 1}'], "cf-emulator queues send"),
    (["/x/emulator/__main__.py", "d1", "execute", "--command", "DELETE FROM users"], "cf-emulator d1 execute"),
    (["/x/bin/pytest", "-q", "tests"], "pytest"),
    (["/x/cf-emulator", "dev", "--var", "TOKEN:abc"], "cf-emulator dev"),
    ([], "python"),
])
def test_describe_process_keeps_no_arguments_past_the_first_option(argv: list[str], expected: str) -> None:
    assert describe_process(argv) == expected
