"""The state directory: per-binding folders, no escape, discovery of a running dev."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from emulator.state import StateDir, StatePathError, safe_component


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


def test_server_info_names_only_a_live_process(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    assert state.read_server_info() is None
    state.write_server_info({"internal_url": "http://127.0.0.1:1"})
    info = state.read_server_info()
    assert info is not None and info["pid"] == os.getpid()
    state.server_file.write_text('{"internal_url": "x", "pid": 999999999}')
    assert state.read_server_info() is None  # that process is gone
    state.clear_server_info()
    assert not state.server_file.exists()
