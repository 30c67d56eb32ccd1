"""Isolated module loading: private packages per app and generation, no bytecode files."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from emulator.runtime.loader import AppLoadError, AppPackage
from tests.helpers.apps import write_files


def test_generations_are_isolated_and_unloaded(tmp_path: Path) -> None:
    write_files(tmp_path, {"main.py": "import util\nVALUE = util.X\n", "util.py": "X = 1\n"})
    first = AppPackage("app", tmp_path)
    mod1 = first.import_file(tmp_path / "main.py")
    assert mod1.VALUE == 1
    write_files(tmp_path, {"util.py": "X = 2\n"})  # same size, same second: no stale bytecode
    second = AppPackage("app", tmp_path)
    mod2 = second.import_file(tmp_path / "main.py")
    assert mod2.VALUE == 2 and mod1.VALUE == 1
    assert first.name != second.name
    first.unload()
    assert not any(k.startswith(first.name) for k in sys.modules)
    assert f"{second.name}.util" in sys.modules and "util" not in sys.modules
    assert not (tmp_path / "__pycache__").exists()
    second.unload()


def test_relative_and_package_imports(tmp_path: Path) -> None:
    write_files(tmp_path, {
        "pkg/__init__.py": "FROM_INIT = 'init'\n",
        "pkg/inner.py": "from . import FROM_INIT\nVALUE = FROM_INIT + '-inner'\n",
        "main.py": "import pkg.inner\nfrom pkg import inner as alias\nRESULT = (pkg.inner.VALUE, alias.VALUE)\n",
    })
    package = AppPackage("rel", tmp_path)
    try:
        assert package.import_file(tmp_path / "main.py").RESULT == ("init-inner", "init-inner")
    finally:
        package.unload()


def test_load_errors_carry_the_app_traceback(tmp_path: Path) -> None:
    write_files(tmp_path, {"main.py": "import helper\n", "helper.py": "def f():\n    raise ValueError('at import')\nf()\n"})
    package = AppPackage("err", tmp_path)
    with pytest.raises(AppLoadError) as info:
        package.import_file(tmp_path / "main.py")
    text = info.value.traceback_text
    assert "helper.py" in text and "ValueError: at import" in text
    assert "importlib" not in text and "emulator/runtime" not in text
    assert "ValueError" in info.value.message
    package.unload()


def test_packages_installed_for_another_app_are_not_importable(tmp_path: Path) -> None:
    from packaging.requirements import Requirement

    from emulator.runtime.dependencies import (
        AppRequirements,
        InstalledDistribution,
        InstalledSet,
        activate,
        plan_dependencies,
    )

    folder = tmp_path / "deps"
    write_files(folder, {"cfe_loader_dep/__init__.py": "NAME = 'dep'\n"})
    plan = plan_dependencies([AppRequirements("owner", tmp_path / "pyproject.toml",
                                              (Requirement("cfe-loader-dep"),))], environment={})
    installed = InstalledSet(plan, folder, {"cfe-loader-dep": InstalledDistribution(
        "cfe-loader-dep", "1.0", ("cfe_loader_dep",), (), True)})
    write_files(tmp_path / "app", {"main.py": "def load():\n    import cfe_loader_dep\n    return cfe_loader_dep.NAME\n"})
    activation = activate(installed, ["owner", "stranger"])
    try:
        owner = AppPackage("owner", tmp_path / "app").import_file(tmp_path / "app" / "main.py")
        assert owner.load() == "dep"
        stranger = AppPackage("stranger", tmp_path / "app").import_file(tmp_path / "app" / "main.py")
        # Already in sys.modules for the owner, and still refused to the other app (even lazily).
        with pytest.raises(ModuleNotFoundError) as err:
            stranger.load()
        assert err.value.name == "cfe_loader_dep"
        assert str(err.value).startswith("No module named 'cfe_loader_dep' (cfe_loader_dep is installed for "
                                         "\"owner\", not for 'stranger'")
    finally:
        activation.deactivate()
    assert "cfe_loader_dep" not in sys.modules
