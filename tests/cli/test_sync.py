"""`cf-emulator sync`: install the apps' dependencies ahead of `dev` (offline local index)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulator.cli import main
from tests.helpers.wheels import PackageIndex, add_template_packages


def make_app(root: Path, dependencies: list[str]) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "entry.py").write_text("from workers import WorkerEntrypoint\n\n\n"
                                           "class Default(WorkerEntrypoint):\n    pass\n")
    (root / "wrangler.toml").write_text('name = "app"\nmain = "src/entry.py"\ncompatibility_date = "2025-10-01"\n'
                                        'compatibility_flags = ["python_workers"]\n')
    listed = ", ".join(f'"{d}"' for d in dependencies)
    (root / "pyproject.toml").write_text(f'[project]\nname = "app"\nversion = "0.1"\ndependencies = [{listed}]\n')
    return root


def test_sync_installs_once_then_reports_the_cached_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    index = PackageIndex(tmp_path / "index")
    add_template_packages(index)
    index.use(monkeypatch)
    app = make_app(tmp_path / "app", ["tinytemplate"])
    state = tmp_path / "state"
    monkeypatch.chdir(app)
    assert main(["sync", "--persist-to", str(state)]) == 0
    out = capsys.readouterr().out
    assert 'Installing Python packages for "app": tinytemplate (into ' in out
    assert "  Processing " in out and "tinytemplate-1.0" in out  # pip's progress, one line per package
    assert "✔ 2 package(s) installed in " in out and out.rstrip().endswith("for app")

    assert main(["sync", "-c", str(app / "wrangler.toml"), "--persist-to", str(state), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["cached"] is True
    assert Path(data["folder"]).parent == state / "python-deps"
    assert {(p["name"], p["version"], p["pure"]) for p in data["packages"]} == {
        ("tinytemplate", "1.0", True), ("tinymarkup", "1.0", True)}
    assert data["apps"] == [{"name": "app", "pyproject": str(app / "pyproject.toml"), "requirements": ["tinytemplate"]}]
    # A warning when this interpreter is not the 3.13 production runs for the app, else none.
    assert all("Python 3.13 in production" in w for w in data["warnings"])


def test_sync_errors_are_exit_1_and_a_missing_config_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    app = make_app(tmp_path / "app", ["aiohttp<1"])  # cf-emulator's own aiohttp cannot be that old
    assert main(["sync", "-c", str(app), "--persist-to", str(tmp_path / "state")]) == 1
    err = capsys.readouterr().err
    assert err.startswith('✘ [ERROR] App "app" requires aiohttp<1 (')
    assert main(["sync", "-c", str(app), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["error"].startswith('App "app" requires aiohttp<1')
    assert not (app / ".emulator" / "python-deps").exists()

    assert main(["sync", "-c", str(tmp_path / "nowhere" / "wrangler.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    missing = tmp_path / "nowhere" / "wrangler.toml"
    assert main(["sync", "-c", str(missing), "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"ok": False, "error": f"{missing} does not exist."}
    assert captured.err == ""
