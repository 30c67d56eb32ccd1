"""`cf-emulator dev` with apps that declare `[project] dependencies`, end to end over HTTP.

Packages come from a local index built in the test (tests/helpers/wheels.py), so this runs
offline; pip itself runs for real.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import aiohttp
import pytest

from emulator import Emulator, FakeClock
from emulator.emulator import StartError
from emulator.logs import EventLog
from tests.helpers.wheels import PackageIndex, add_template_packages

WEB = '''
from workers import Response, WorkerEntrypoint
from tinytemplate import Environment

PAGE = Environment().get_template("page.html")


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        from tinymarkup import escape  # the package's own dependency, imported lazily
        return Response(PAGE.render(title="<hi>") + escape("&"))
'''
API = '''
from workers import Response, WorkerEntrypoint
import tinylib


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response(f"tinylib {tinylib.VERSION}")
'''
PLAIN = '''
from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        try:
            import tinytemplate  # declared by the other apps only
        except ModuleNotFoundError as exc:
            return Response(str(exc), status=500)
        return Response("imported")
'''


def write_app(root: Path, name: str, code: str, dependencies: list[str] | None, date: str = "2025-10-01") -> None:
    (root / name / "src").mkdir(parents=True)
    (root / name / "wrangler.toml").write_text(
        f'name = "{name}"\nmain = "src/entry.py"\ncompatibility_date = "{date}"\n'
        'compatibility_flags = ["python_workers"]\n')
    (root / name / "src" / "entry.py").write_text(textwrap.dedent(code).lstrip())
    if dependencies is not None:
        listed = ", ".join(f'"{d}"' for d in dependencies)
        (root / name / "pyproject.toml").write_text(
            f'[project]\nname = "{name}"\nversion = "0.1.0"\nrequires-python = ">=3.12"\n'
            f'dependencies = [{listed}]\n\n[dependency-groups]\ndev = ["workers-py", "workers-runtime-sdk"]\n')


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PackageIndex:
    index = PackageIndex(tmp_path / "index")
    add_template_packages(index)
    index.use(monkeypatch)
    return index


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "wrangler.toml").write_text('[workspace]\napps = ["web", "api", "plain"]\n')
    write_app(root, "web", WEB, ["tinytemplate>=1", "workers-runtime-sdk"])
    write_app(root, "api", API, ["tinytemplate", "tinylib<3"], date="2025-01-01")
    write_app(root, "plain", PLAIN, None)
    return root


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as resp:
            return resp.status, await resp.text()


async def test_apps_run_with_their_packages_installed_once_and_cached(index: PackageIndex, workspace: Path) -> None:
    log = EventLog()
    async with Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=0, log=log) as emu:
        assert await get(emu.url("web")) == (200, "<h1>&lt;HI&gt;</h1>\n&amp;")
        assert await get(emu.url("api")) == (200, "tinylib 2.0")
        status, text = await get(emu.url("plain"))
        assert status == 500 and text.startswith("No module named 'tinytemplate'")
        sets = [p for p in (emu.state_dir / "python-deps").iterdir() if not p.name.startswith(".")]
        assert len(sets) == 1  # web and api agree on tinytemplate: one installed copy
        messages = log.messages(source="dev")
        assert any(m.startswith('Installing Python packages for "web", "api": tinylib<3, tinytemplate>=1 (into ')
                   for m in messages)
        assert "[web] Python 3.13 in production" in "\n".join(messages)
        assert "[api] Python 3.12 in production (compatibility_date 2025-01-01 is before 2025-09-29)" \
            in "\n".join(messages)
        assert not any(m.startswith("[plain] pyproject.toml") for m in messages)
    log = EventLog()
    async with Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=0, log=log) as emu:
        assert await get(emu.url("api")) == (200, "tinylib 2.0")
        messages = log.messages(source="dev")
        assert not any(m.startswith("Installing Python packages") for m in messages)  # cache hit
        assert any(m.startswith("Python packages (installed before): ") for m in messages)


async def test_conflicting_apps_are_refused_before_anything_starts(index: PackageIndex, workspace: Path) -> None:
    (workspace / "api" / "pyproject.toml").write_text('[project]\ndependencies = ["tinylib==1.0"]\n')
    (workspace / "web" / "pyproject.toml").write_text('[project]\ndependencies = ["tinylib>=2"]\n')
    emu = Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=0, log=EventLog())
    with pytest.raises(StartError) as err:
        await emu.start()
    assert str(err.value).startswith('Apps "web" and "api" need conflicting versions of tinylib: "web" requires '
                                     'tinylib>=2 (')
    assert '"api" requires tinylib==1.0' in str(err.value)
    assert not (workspace / ".emulator" / "python-deps").exists()


async def test_reload_keeps_the_packages_and_a_dependency_change_asks_for_a_restart(
        index: PackageIndex, workspace: Path) -> None:
    async with Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=0, log=EventLog(), watch=True) as emu:
        entry = workspace / "web" / "src" / "entry.py"
        entry.write_text(entry.read_text().replace('title="<hi>"', 'title="v2"'))
        assert await emu._reloader.handle_changes([entry]) == {"web": True}
        assert await get(emu.url("web")) == (200, "<h1>V2</h1>\n&amp;")

        pyproject = workspace / "web" / "pyproject.toml"
        pyproject.write_text(pyproject.read_text().replace('"tinytemplate>=1"', '"tinytemplate>=1", "tinylib"'))
        assert await emu._reloader.handle_changes([pyproject]) == {"web": True}
        warnings = emu.log.messages(level="warn", source="dev")
        assert any(m.startswith("[web] [project] dependencies in pyproject.toml changed; they take effect after a "
                                "restart") for m in warnings)
        assert await get(emu.url("web")) == (200, "<h1>V2</h1>\n&amp;")
