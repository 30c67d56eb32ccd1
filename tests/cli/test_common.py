"""Which state directory CLI verbs use: an app inside a workspace shares the workspace's."""

from __future__ import annotations

import argparse
from pathlib import Path

from emulator.cli._common import enclosing_workspace, resolve_state_dir
from emulator.state import StateDir


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


def test_an_app_of_a_workspace_uses_the_workspace_state(tmp_path: Path) -> None:
    root, app = layout(tmp_path)
    assert enclosing_workspace(app) == root
    assert resolve_state_dir(args(app / "wrangler.toml")).root == (root / ".emulator").resolve()


def test_a_dev_running_on_the_app_itself_wins(tmp_path: Path) -> None:
    root, app = layout(tmp_path)
    StateDir(app / ".emulator").write_server_info({"internal_url": "http://127.0.0.1:1"})
    assert resolve_state_dir(args(app / "wrangler.toml")).root == (app / ".emulator").resolve()


def test_an_existing_app_state_is_kept_when_the_workspace_has_none(tmp_path: Path) -> None:
    root, app = layout(tmp_path)
    (app / ".emulator").mkdir()
    assert resolve_state_dir(args(app / "wrangler.toml")).root == (app / ".emulator").resolve()
    (root / ".emulator").mkdir()
    assert resolve_state_dir(args(app / "wrangler.toml")).root == (root / ".emulator").resolve()


def test_persist_to_wins_and_standalone_apps_keep_their_own(tmp_path: Path) -> None:
    root, app = layout(tmp_path)
    assert resolve_state_dir(args(app / "wrangler.toml", tmp_path / "s")).root == (tmp_path / "s").resolve()
    (root / "wrangler.toml").write_text('name = "not-a-workspace"\n')
    assert enclosing_workspace(app) is None
    assert resolve_state_dir(args(app / "wrangler.toml")).root == (app / ".emulator").resolve()
