"""Loading app code: plain module names where they are free, private packages where they
collide, generations swapped atomically on reload, no bytecode files, app tracebacks."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path
from collections.abc import Iterator

import pytest

from emulator.runtime.loader import AppLoadError, AppPackage, NameCollision, describe_collisions
from tests.helpers.apps import write_files

# A small Django-like project: the app's own imports, and a "library" importing by name.
PROJECT = {
    "cfe_main.py": (
        "import importlib\n"
        "from cfe_proj import settings\n"
        "import cfe_lib.db\n"
        "CONFIGURED = importlib.import_module(settings.CONFIG_MODULE)\n"
    ),
    "cfe_proj/__init__.py": "",
    "cfe_proj/settings.py": "CONFIG_MODULE = 'cfe_proj.urls'\nVERSION = 1\n",
    "cfe_proj/urls.py": "class Route:\n    pass\nPATTERNS = ['/']\n",
    "cfe_lib/db.py": "NAME = 'db'\n",  # a folder without __init__.py
}


@pytest.fixture
def packages() -> Iterator[list[AppPackage]]:
    """Generations created by a test, unloaded at its end (they own process-wide names)."""
    made: list[AppPackage] = []
    yield made
    for package in reversed(made):
        package.unload()


def test_generations_are_isolated_and_unloaded(tmp_path: Path, packages: list[AppPackage]) -> None:
    write_files(tmp_path, {"main.py": "import util\nVALUE = util.X\n", "util.py": "X = 1\n"})
    first = AppPackage("app", tmp_path)
    packages.append(first)
    mod1 = first.import_file(tmp_path / "main.py")
    first.commit()
    assert mod1.VALUE == 1 and mod1.__name__ == "main"
    write_files(tmp_path, {"util.py": "X = 2\n"})  # same size, same second: no stale bytecode
    second = AppPackage("app", tmp_path)
    packages.append(second)
    mod2 = second.import_file(tmp_path / "main.py")
    second.commit()
    assert mod2.VALUE == 2 and mod1.VALUE == 1 and mod2 is not mod1
    assert first.name != second.name
    first.unload()
    assert not any(k.startswith(first.name) for k in sys.modules)
    assert sys.modules["util"].X == 2 and sys.modules["main"] is mod2  # the new generation stays
    assert not (tmp_path / "__pycache__").exists()
    second.unload()
    assert "util" not in sys.modules and "main" not in sys.modules


def test_relative_and_package_imports(tmp_path: Path, packages: list[AppPackage]) -> None:
    write_files(tmp_path, {
        "pkg/__init__.py": "FROM_INIT = 'init'\n",
        "pkg/inner.py": "from . import FROM_INIT\nVALUE = FROM_INIT + '-inner'\n",
        "main.py": "import pkg.inner\nfrom pkg import inner as alias\nRESULT = (pkg.inner.VALUE, alias.VALUE)\n",
    })
    package = AppPackage("rel", tmp_path)
    packages.append(package)
    assert package.import_file(tmp_path / "main.py").RESULT == ("init-inner", "init-inner")


def test_load_errors_carry_the_app_traceback(tmp_path: Path, packages: list[AppPackage]) -> None:
    write_files(tmp_path, {"main.py": "import helper\n",
                           "helper.py": "def f():\n    raise ValueError('at import')\nf()\n"})
    package = AppPackage("err", tmp_path)
    packages.append(package)
    with pytest.raises(AppLoadError) as info:
        package.import_file(tmp_path / "main.py")
    text = info.value.traceback_text
    assert "helper.py" in text and "ValueError: at import" in text
    assert "importlib" not in text and "emulator/runtime" not in text
    assert "ValueError" in info.value.message


def test_name_importing_libraries_find_the_app_modules(tmp_path: Path, packages: list[AppPackage]) -> None:
    write_files(tmp_path, PROJECT)
    package = AppPackage("proj", tmp_path)
    packages.append(package)
    entry = package.import_file(tmp_path / "cfe_main.py")
    package.commit()
    assert package.plain == {"cfe_main", "cfe_proj", "cfe_lib"} and package.collisions == []
    # What a library does (Django: settings, ROOT_URLCONF, INSTALLED_APPS) finds the same modules.
    urls = importlib.import_module("cfe_proj.urls")
    assert entry.CONFIGURED is urls and urls.__name__ == "cfe_proj.urls" and urls.Route.__module__ == "cfe_proj.urls"
    assert __import__("cfe_proj.settings", fromlist=["VERSION"]).VERSION == 1
    assert {m.name for m in pkgutil.iter_modules(sys.modules["cfe_proj"].__path__)} == {"settings", "urls"}
    assert importlib.util.find_spec("cfe_proj.missing") is None
    db = importlib.import_module("cfe_lib.db")
    assert db.NAME == "db" and sys.modules["cfe_lib"].__path__ == [str(tmp_path / "cfe_lib")]
    assert urls.__file__ == str(tmp_path / "cfe_proj" / "urls.py")
    assert not (tmp_path / "cfe_proj" / "__pycache__").exists()


def test_names_two_apps_share_are_private_in_both_and_both_apps_work(
        tmp_path: Path, packages: list[AppPackage]) -> None:
    for app in ("one", "two"):
        write_files(tmp_path / app, {
            "entry.py": f"import cfe_shared, cfe_{app}_only\nRESULT = (cfe_shared.WHO, cfe_{app}_only.WHO)\n",
            "cfe_shared/__init__.py": f"WHO = '{app}'\n",
            f"cfe_{app}_only.py": f"WHO = '{app}-only'\n",
            "public/index.html": "<p>not python</p>",
        })
    roots = {"one": tmp_path / "one", "two": tmp_path / "two"}
    loaded = {}
    for app, root in roots.items():
        # "two" says its host imports `entry` by path (its main module): no warning for it.
        package = AppPackage(app, root, roots, entry_names={"entry"} if app == "two" else ())
        packages.append(package)
        loaded[app] = package.import_file(root / "entry.py")
        package.commit()
    one, two = packages
    assert loaded["one"].RESULT == ("one", "one-only") and loaded["two"].RESULT == ("two", "two-only")
    assert one.plain == {"cfe_one_only"} and two.plain == {"cfe_two_only"}
    assert loaded["one"].__name__ == f"{one.name}.entry" and "cfe_shared" not in sys.modules
    # `public/` is shared too (private in both) but is not worth a warning: no Python in it.
    assert one.collisions == [NameCollision("cfe_shared", "app", ("two",)), NameCollision("entry", "app", ("two",))]
    text = describe_collisions(one.collisions)
    assert '`cfe_shared` (also in "two"), `entry` (also in "two")' in text
    assert "libraries that import them by name" in text and "do not find them" in text
    assert two.collisions == [NameCollision("cfe_shared", "app", ("one",))] and "entry" not in two.plain
    assert importlib.util.find_spec("cfe_shared") is None  # what a name-importing library sees


def test_an_app_cannot_import_another_apps_plain_modules(tmp_path: Path, packages: list[AppPackage]) -> None:
    write_files(tmp_path / "a", {"cfe_owned.py": "X = 1\n", "entry.py": "import cfe_owned\n"})
    write_files(tmp_path / "b", {"main.py": "def load():\n    import cfe_owned\n"})
    owner = AppPackage("a", tmp_path / "a")
    packages.append(owner)
    owner.import_file(tmp_path / "a" / "entry.py")
    stranger = AppPackage("b", tmp_path / "b")
    packages.append(stranger)
    module = stranger.import_file(tmp_path / "b" / "main.py")
    with pytest.raises(ModuleNotFoundError) as err:
        module.load()
    assert err.value.name == "cfe_owned" and "a module of the app 'a', not of 'b'" in str(err.value)


def test_names_of_the_standard_library_or_installed_packages_stay_private(
        tmp_path: Path, packages: list[AppPackage]) -> None:
    write_files(tmp_path, {
        "json.py": "MINE = True\n",
        "pytest.py": "MINE = True\n",
        "main.py": "import json, pytest\nRESULT = (json.MINE, pytest.MINE)\n",
        "__init__.py": "", "__main__.py": "",  # never plain (`__main__` is the emulator's), not worth a word
    })
    package = AppPackage("shadow", tmp_path)
    packages.append(package)
    assert package.import_file(tmp_path / "main.py").RESULT == (True, True)  # the app's own imports
    assert not hasattr(sys.modules["json"], "MINE") and not hasattr(sys.modules["pytest"], "MINE")
    kinds = {c.name: c.kind for c in package.collisions}
    assert kinds == {"json": "stdlib", "pytest": "installed"} and package.plain == {"main"}
    assert "get the other module" in describe_collisions(package.collisions)


def test_a_reload_replaces_the_plain_modules_on_commit(tmp_path: Path, packages: list[AppPackage]) -> None:
    write_files(tmp_path, {**PROJECT, "cfe_proj/extra.py": "OLD_ONLY = True\n"})
    first = AppPackage("proj", tmp_path)
    packages.append(first)
    first.import_file(tmp_path / "cfe_main.py")
    importlib.import_module("cfe_proj.extra")
    first.commit()
    old_settings = sys.modules["cfe_proj.settings"]
    old_route = sys.modules["cfe_proj.urls"].Route
    write_files(tmp_path, {"cfe_proj/settings.py": "CONFIG_MODULE = 'cfe_proj.urls'\nVERSION = 2\n"})
    second = AppPackage("proj", tmp_path)
    packages.append(second)
    second.import_file(tmp_path / "cfe_main.py")
    second.commit()
    first.unload()
    assert importlib.import_module("cfe_proj.settings").VERSION == 2
    assert old_settings.VERSION == 1 and old_route().__class__.__module__ == "cfe_proj.urls"  # still usable
    assert sys.modules["cfe_proj.urls"].Route is not old_route
    assert "cfe_proj.extra" not in sys.modules  # only the old generation had imported it
    second.unload()
    assert not any(k == "cfe_proj" or k.startswith("cfe_proj.") for k in sys.modules)


def test_a_failed_reload_restores_the_previous_modules(tmp_path: Path, packages: list[AppPackage]) -> None:
    write_files(tmp_path, PROJECT)
    first = AppPackage("proj", tmp_path)
    packages.append(first)
    first.import_file(tmp_path / "cfe_main.py")
    first.commit()
    before = {k: m for k, m in sys.modules.items() if k.partition(".")[0] in first.plain}
    write_files(tmp_path, {
        "cfe_proj/new.py": "X = 1\n",
        "cfe_main.py": "import cfe_proj.new\nimport cfe_proj.settings\nraise RuntimeError('broken edit')\n",
    })
    second = AppPackage("proj", tmp_path)
    with pytest.raises(AppLoadError, match="broken edit"):
        second.import_file(tmp_path / "cfe_main.py")
    assert importlib.import_module("cfe_proj.settings") is not before["cfe_proj.settings"]  # mid-swap
    second.unload()
    after = {k: m for k, m in sys.modules.items() if k.partition(".")[0] in first.plain}
    assert after.keys() == before.keys() and all(after[k] is before[k] for k in before)
    assert importlib.import_module("cfe_proj.settings") is before["cfe_proj.settings"]
    assert "cfe_proj.new" not in sys.modules
    assert not any(k.startswith(second.name) for k in sys.modules)


def test_packages_installed_for_another_app_are_not_importable(tmp_path: Path, packages: list[AppPackage]) -> None:
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
    write_files(tmp_path / "app",
                {"main.py": "def load():\n    import cfe_loader_dep\n    return cfe_loader_dep.NAME\n"})
    activation = activate(installed, ["owner", "stranger"])
    try:
        packages.append(AppPackage("owner", tmp_path / "app"))
        owner = packages[-1].import_file(tmp_path / "app" / "main.py")
        assert owner.load() == "dep"
        packages.append(AppPackage("stranger", tmp_path / "app"))
        stranger = packages[-1].import_file(tmp_path / "app" / "main.py")
        # Already in sys.modules for the owner, and still refused to the other app (even lazily).
        with pytest.raises(ModuleNotFoundError) as err:
            stranger.load()
        assert err.value.name == "cfe_loader_dep"
        assert str(err.value).startswith("No module named 'cfe_loader_dep' (cfe_loader_dep is installed for "
                                         "\"owner\", not for 'stranger'")
    finally:
        activation.deactivate()
    assert "cfe_loader_dep" not in sys.modules
