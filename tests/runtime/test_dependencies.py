"""App dependencies: reading pyproject.toml, conflicts, installing (offline, from a local
index built in the test), the cache, and which app may import what."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from emulator.logs import EventLog
from emulator.runtime import dependencies as deps
from emulator.runtime.dependencies import (
    AppRequirements,
    ConflictError,
    Installed,
    InstallError,
    ProjectFileError,
    activate,
    install,
    plan_dependencies,
    read_app_requirements,
    satisfiable,
)
from emulator.runtime.loader import AppLoadError, AppPackage
from tests.helpers.wheels import PackageIndex


def project(root: Path, dependencies: list[str], extra: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    listed = ", ".join(f"'{d}'" for d in dependencies)
    (root / "pyproject.toml").write_text(f'[project]\nname = "{root.name}"\nversion = "0.1"\n'
                                         f"dependencies = [{listed}]\n{extra}")
    return root


def app_reqs(name: str, *requirements: str) -> AppRequirements:
    return AppRequirements(name, Path(f"/apps/{name}/pyproject.toml"), tuple(Requirement(r) for r in requirements))


# --- reading ----------------------------------------------------------------------------------

def test_no_pyproject_means_no_dependencies(tmp_path: Path) -> None:
    assert read_app_requirements("a", tmp_path) is None


def test_reads_dependencies_and_leaves_out_what_the_emulator_provides(tmp_path: Path) -> None:
    root = project(tmp_path / "a", ["Jinja2>=3.1", "workers-runtime-sdk", "pyodide_py",
                                    'tinylib; python_version < "3"'],
                   'requires-python = ">=3.12"\n[tool.pywrangler]\nallow-build = true\n')
    reqs = read_app_requirements("a", root)
    assert reqs is not None
    assert [str(r) for r in reqs.requirements] == ["Jinja2>=3.1"]  # the marker excludes tinylib here
    assert reqs.skipped == ("workers-runtime-sdk", "pyodide_py")
    assert reqs.requires_python == ">=3.12" and reqs.allow_build is True


@pytest.mark.parametrize("text, expected", [
    ("[project]\ndependencies = \"jinja2\"\n", "must be an array of strings"),
    ("[project]\ndependencies = [\"jinja2 >>= 3\"]\n", "is not a valid requirement"),
    ("[project\n", "is not valid TOML"),
    ("[project]\nrequires-python = 3.12\n", "requires-python must be a string"),
])
def test_bad_pyproject_is_a_clear_error(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(ProjectFileError, match=expected):
        read_app_requirements("a", tmp_path)


def test_requirements_txt_gets_pywranglers_warning(tmp_path: Path) -> None:
    root = project(tmp_path / "a", [])
    (root / "requirements.txt").write_text("jinja2\n")
    reqs = read_app_requirements("a", root)
    assert reqs is not None and "Delete the file to continue" in reqs.warnings[0]


# --- conflicts --------------------------------------------------------------------------------

@pytest.mark.parametrize("a, b, ok", [
    ("==1.0", ">=2", False), (">=1,<2", ">=1.5", True), ("==1.2.*", ">=1.2.5,<1.3", True),
    ("~=1.4", "<1.4", False), ("~=1.4", ">=1.9", True), (">1.0", "<1.0.1", True), ("<1.0", ">1.0", False),
    ("!=2.0", "==2.0", False), ("", "==3.1.4", True), (">=2.0rc1", "<2.0", False), (">=2.0rc1", "<2.0rc3", True),
    ("===1.0", "==1.0", True),
])
def test_satisfiable(a: str, b: str, ok: bool) -> None:
    assert satisfiable([SpecifierSet(a), SpecifierSet(b)]) is ok


def test_apps_that_conflict_are_refused_naming_the_package_and_both_requirements() -> None:
    with pytest.raises(ConflictError) as err:
        plan_dependencies([app_reqs("web", "tinylib==1.0"), app_reqs("worker", "Tinylib>=2")], environment={})
    message = str(err.value)
    assert 'Apps "web" and "worker" need conflicting versions of tinylib' in message
    assert '"web" requires tinylib==1.0' in message and '"worker" requires Tinylib>=2' in message
    assert "one Python interpreter" in message


def test_a_requirement_cf_emulators_environment_cannot_meet_is_refused() -> None:
    env = {"aiohttp": Installed("aiohttp", "3.12.15")}
    with pytest.raises(ConflictError, match=r'App "web" requires aiohttp<3 .*has aiohttp 3\.12\.15'):
        plan_dependencies([app_reqs("web", "aiohttp<3")], environment=env)


def test_agreeing_apps_share_one_set_and_the_environment_is_not_installed_again() -> None:
    env = {"aiohttp": Installed("aiohttp", "3.12.15")}
    plan = plan_dependencies([app_reqs("web", "tinylib>=1", "aiohttp>=3"), app_reqs("worker", "tinylib<3")],
                             environment=env)
    assert [str(r) for r in plan.to_install] == ["tinylib<3", "tinylib>=1"]
    assert deps.merged_requirements(plan.to_install) == ["tinylib<3,>=1"]
    assert plan.from_environment == {"aiohttp": env["aiohttp"]}
    same = plan_dependencies([app_reqs("worker", "tinylib<3"), app_reqs("web", "aiohttp>=3", "tinylib>=1")],
                             environment=env)
    assert same.key == plan.key  # order of apps and requirements does not matter
    other = plan_dependencies([app_reqs("web", "tinylib>=1")], environment=env)
    assert other.key != plan.key


def test_nothing_to_install_needs_no_folder(tmp_path: Path) -> None:
    import asyncio

    plan = plan_dependencies([app_reqs("web", "aiohttp")], environment={"aiohttp": Installed("aiohttp", "3.12.15")})
    installed = asyncio.run(install(plan, tmp_path))
    assert installed.folder is None and not (tmp_path / "python-deps").exists()


# --- installing (pip, offline) ------------------------------------------------------------------

@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PackageIndex:
    index = PackageIndex(tmp_path / "index")
    index.add("tinylib", "1.0", {"tinylib/__init__.py": "VERSION = '1.0'\n"})
    index.add("tinylib", "2.0", {"tinylib/__init__.py": "VERSION = '2.0'\n"})
    index.add("tinylib", "3.0", {"tinylib/__init__.py": "VERSION = '3.0'\n"}, requires_python=">=3.99")
    index.add("tinymarkup", "1.0", {"tinymarkup/__init__.py": "def escape(s):\n    return s.replace('<', '&lt;')\n"})
    index.add("tinytemplate", "1.0", {"tinytemplate/__init__.py": "from tinymarkup import escape\n"},
              requires=("tinymarkup>=1",))
    index.add("tinyext", "1.0", {"tinyext/__init__.py": "NATIVE = True\n"}, pure=False)
    index.use(monkeypatch)
    return index


async def test_install_then_cache_hit_without_running_pip(index: PackageIndex, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    log = EventLog()
    plan = plan_dependencies([app_reqs("web", "tinytemplate", "tinylib>=1"), app_reqs("worker", "tinyext")],
                             environment={})
    installed = await install(plan, tmp_path / "state", log)
    assert installed.folder == tmp_path / "state" / "python-deps" / plan.key and not installed.cached
    versions = {name: d.version for name, d in installed.distributions.items()}
    assert versions == {"tinylib": "2.0", "tinymarkup": "1.0", "tinytemplate": "1.0", "tinyext": "1.0"}
    assert installed.distributions["tinylib"].top_level == ("tinylib",)
    assert [d.name for d in deps.not_pure_python(installed)] == ["tinyext"]
    messages = log.messages()
    assert any(m.startswith('Installing Python packages for "web", "worker": tinyext, tinylib>=1, tinytemplate (')
               for m in messages)
    assert any("Processing" in m and "tinylib-2.0" in m for m in messages)  # pip's progress, per package
    assert not list((tmp_path / "state" / "python-deps").glob(".tmp-*"))

    async def no_pip(*args: object) -> tuple[int, str]:
        raise AssertionError("pip ran for a cached set")

    monkeypatch.setattr(deps, "_run_pip", no_pip)
    again = await install(plan, tmp_path / "state")
    assert again.cached and again.folder == installed.folder and again.distributions == installed.distributions


async def test_missing_package_is_named(index: PackageIndex, tmp_path: Path) -> None:
    plan = plan_dependencies([app_reqs("web", "cfe-no-such-package>=1")], environment={})
    with pytest.raises(InstallError) as err:
        await install(plan, tmp_path / "state")
    message = str(err.value)
    assert message.startswith('Could not install the Python packages of app "web"')
    assert "no package named cfe-no-such-package was found" in message
    assert not (tmp_path / "state" / "python-deps" / plan.key).exists()
    assert not list((tmp_path / "state" / "python-deps").glob(".tmp-*"))


async def test_missing_version_lists_the_available_ones(index: PackageIndex, tmp_path: Path) -> None:
    plan = plan_dependencies([app_reqs("web", "tinylib==9.9")], environment={})
    with pytest.raises(InstallError,
                       match=r"no version of tinylib matches tinylib==9\.9 "
                             r"\(available: 1\.0, 2\.0; 3\.0 needs Python >=3\.99\)"):
        await install(plan, tmp_path / "state")


async def test_a_package_that_needs_a_newer_python_names_the_version_it_needs(
        index: PackageIndex, tmp_path: Path) -> None:
    plan = plan_dependencies([app_reqs("web", "tinylib==3.0")], environment={})
    with pytest.raises(InstallError) as err:
        await install(plan, tmp_path / "state")
    message = str(err.value)
    assert "no version of tinylib that matches tinylib==3.0 supports Python" in message
    assert "tinylib 3.0 needs Python >=3.99" in message
    assert f"supports Python {sys.version_info.major}.{sys.version_info.minor}" in message


# --- who sees what --------------------------------------------------------------------------

async def test_each_app_imports_only_what_its_requirements_reach(index: PackageIndex, tmp_path: Path) -> None:
    web_root = tmp_path / "web"
    (web_root / "src").mkdir(parents=True)
    (web_root / "src" / "entry.py").write_text(
        "import tinytemplate, tinymarkup\nRESULT = tinytemplate.escape('<b>')\n")
    other_root = tmp_path / "other"
    (other_root / "src").mkdir(parents=True)
    (other_root / "src" / "entry.py").write_text("import tinytemplate\n")
    plan = plan_dependencies([app_reqs("web", "tinytemplate")], environment={})
    installed = await install(plan, tmp_path / "state")
    activation = activate(installed, ["web", "other"])
    try:
        assert str(installed.folder) in sys.path
        web = AppPackage("web", web_root / "src").import_file(web_root / "src" / "entry.py")
        assert web.RESULT == "&lt;b>"  # the package and its own dependency import
        with pytest.raises(AppLoadError) as err:
            AppPackage("other", other_root / "src").import_file(other_root / "src" / "entry.py")
        assert "ModuleNotFoundError: No module named 'tinytemplate'" in str(err.value)
        assert 'installed for "web", not for \'other\'' in str(err.value)
    finally:
        activation.deactivate()
    assert str(installed.folder) not in sys.path
    assert "tinytemplate" not in sys.modules and "tinymarkup" not in sys.modules
    assert deps.hidden_modules("other") == {}


async def test_an_interrupted_install_never_counts_as_installed(index: PackageIndex, tmp_path: Path) -> None:
    import subprocess

    plan = plan_dependencies([app_reqs("web", "tinylib==1.0")], environment={})
    root = tmp_path / "state" / "python-deps"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    # What `kill -9` in the middle of pip leaves: a temp folder and files, and (worse) a
    # half-copied set folder without its manifest.
    (root / f".tmp-{pid}-{plan.key}" / "tinylib").mkdir(parents=True)
    (root / f".tmp-{pid}-{plan.key}-requirements.txt").write_text("tinylib==1.0\n")
    (root / plan.key / "tinylib").mkdir(parents=True)
    assert deps.read_manifest(root / plan.key) is None
    installed = await install(plan, tmp_path / "state")
    assert not installed.cached and installed.distributions["tinylib"].version == "1.0"
    assert (root / plan.key / "tinylib" / "__init__.py").read_text() == "VERSION = '1.0'\n"
    assert sorted(p.name for p in root.iterdir()) == [plan.key]
