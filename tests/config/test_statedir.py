"""The state-directory rule (docs/state.md): one decision for `dev`, the CLI verbs and the
pytest plugin, from a config file, its folder, the current folder or a workspace file."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.config.statedir import enclosing_workspace, place_state, read_workspace


def workspace(tmp_path: Path, extra: str = "apply_migrations = true\n") -> tuple[Path, Path, Path]:
    """A repo with a workspace listing apps/web (by folder) and apps/worker (by file), and a
    standalone app beside them."""
    root = tmp_path / "repo"
    for name in ("web", "worker", "alone"):
        (root / "apps" / name).mkdir(parents=True)
        (root / "apps" / name / "wrangler.toml").write_text(f'name = "{name}"\n')
    (root / "wrangler.toml").write_text(
        '[workspace]\napps = ["apps/web", "apps/worker/wrangler.toml"]\n' + extra)
    return root, root / "apps" / "web", root / "apps" / "worker"


@pytest.mark.parametrize("named", ["file", "folder", "cwd"])
@pytest.mark.parametrize("app_name", ["web", "worker"])
def test_a_listed_app_uses_the_workspace_however_it_is_named(
        tmp_path: Path, named: str, app_name: str) -> None:
    root, _web, _worker = workspace(tmp_path)
    app = root / "apps" / app_name
    targets = {"file": [app / "wrangler.toml"], "folder": [app], "cwd": []}[named]
    placed = place_state(targets, cwd=app if named == "cwd" else tmp_path)
    assert placed.root == (root / ".emulator").resolve()
    assert placed.source == "workspace" and placed.apply_migrations
    assert placed.workspace is not None and placed.workspace.path == (root / "wrangler.toml").resolve()
    assert placed.app == (app / "wrangler.toml").resolve()
    assert "is listed in the workspace" in placed.describe() and "apply_migrations = true" in placed.describe()


def test_the_workspace_file_itself_and_its_folder(tmp_path: Path) -> None:
    root, _web, _worker = workspace(tmp_path)
    for targets, cwd in (([root / "wrangler.toml"], tmp_path), ([root], tmp_path), ([], root)):
        placed = place_state(targets, cwd=cwd)
        assert placed.root == (root / ".emulator").resolve() and placed.apply_migrations
        assert placed.describe() == ""  # `dev` only explains an app named on its own


def test_other_apps_keep_their_own(tmp_path: Path) -> None:
    root, _web, _worker = workspace(tmp_path)
    alone = root / "apps" / "alone"
    for targets in ([alone], [alone / "wrangler.toml"]):
        placed = place_state(targets, cwd=tmp_path)
        assert placed.root == (alone / ".emulator").resolve()
        assert placed.source == "app" and not placed.apply_migrations and placed.workspace is None


def test_workspace_settings_persist_to_and_apply_migrations(tmp_path: Path) -> None:
    root, web, _worker = workspace(tmp_path, 'persist_to = "state"\n')
    placed = place_state([web], cwd=tmp_path)
    assert placed.root == (root / "state").resolve() and not placed.apply_migrations


def test_persist_to_wins_but_the_workspace_still_decides_migrations(tmp_path: Path) -> None:
    _root, web, _worker = workspace(tmp_path)
    placed = place_state([web], tmp_path / "elsewhere", cwd=tmp_path)
    assert placed.root == (tmp_path / "elsewhere").resolve()
    assert placed.source == "persist_to" and placed.apply_migrations
    assert "(--persist-to)" in placed.describe()
    relative = place_state([web], "rel", cwd=tmp_path)
    assert relative.root == (tmp_path / "rel").resolve()


def test_an_old_app_state_directory_is_reported_as_stray(tmp_path: Path) -> None:
    root, web, _worker = workspace(tmp_path)
    assert place_state([web], cwd=tmp_path).stray is None
    (web / ".emulator").mkdir()
    assert place_state([web], cwd=tmp_path).stray == web / ".emulator"
    assert place_state([root], cwd=tmp_path).stray is None


def test_a_workspace_that_does_not_list_the_app_is_skipped(tmp_path: Path) -> None:
    root, web, _worker = workspace(tmp_path)
    inner = root / "apps"
    (inner / "wrangler.toml").write_text('[workspace]\napps = ["alone"]\n')
    # The nearest workspace lists only `alone`; the one above lists `web`.
    assert enclosing_workspace(web / "wrangler.toml") is not None
    assert enclosing_workspace(web / "wrangler.toml").path == (root / "wrangler.toml").resolve()  # type: ignore[union-attr]  # a workspace encloses it: what the test sets up
    assert enclosing_workspace(inner / "alone" / "wrangler.toml").path == (inner / "wrangler.toml").resolve()  # type: ignore[union-attr]  # a workspace encloses it: what the test sets up


@pytest.mark.parametrize("text", ['[workspace\napps = [', 'name = "app"\n', '[workspace]\napps = 3\n',
                                  '[workspace]\napps = ["nope"]\napply_migrations = "yes"\n'])
def test_broken_or_foreign_files_never_raise(tmp_path: Path, text: str) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "wrangler.toml").write_text('name = "app"\n')
    (tmp_path / "wrangler.toml").write_text(text)
    placed = place_state([tmp_path / "app"], cwd=tmp_path)
    assert placed.root == (tmp_path / "app" / ".emulator").resolve() and not placed.apply_migrations
    found = read_workspace(tmp_path / "wrangler.toml")
    assert found is None or not found.apply_migrations


def test_nothing_found_means_the_current_folder(tmp_path: Path) -> None:
    placed = place_state([], cwd=tmp_path)
    assert (placed.root, placed.source) == ((tmp_path / ".emulator").resolve(), "cwd")
