"""App dependencies: each app's ``[project] dependencies``, installed like ``pywrangler sync``.

A Python Worker declares its packages in the ``pyproject.toml`` next to its wrangler config
(pywrangler's project root). `cf-emulator dev` and `cf-emulator sync` install them for the
hosted apps alone, never into cf-emulator's own environment (docs/dependencies.md):

1. ``read_app_requirements``: the declared requirements (markers evaluated here; the
   ``workers-runtime-sdk`` / ``pyodide-py`` / ``workers-py`` packages the emulator stands in
   for are left out).
2. ``plan_dependencies``: all hosted apps share one interpreter — one module table, one
   version of each package — so requirements of two apps (or of an app and cf-emulator's own
   environment) that no single version satisfies are refused up front, naming the package
   and both requirements. Requirements the environment already satisfies are not
   installed again; the rest are merged into one set (apps that agree share one copy).
3. ``install``: ``pip install --target`` with the emulator's interpreter into
   ``<state>/python-deps/<key>/``, where ``key`` hashes the set, the interpreter and the
   environment's versions (so a second start is a cache hit). The environment's versions
   are pip *constraints*, so what is installed agrees with what the process already has.
   Wheels only, as pywrangler resolves (``[tool.pywrangler] allow-build = true`` lifts it).
   pip's failures become one message naming the package (``pip_errors``).
4. ``activate``: the folder goes on ``sys.path`` (after the environment's own folders), and
   each app may import only the packages its own requirements reach: the loader asks
   ``hidden_modules(app)`` (a package another hosted app declared is a ``ModuleNotFoundError``,
   as it would be in production).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import importlib.metadata
import json
import os
import shutil
import sys
import sysconfig
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast
from collections.abc import Iterable

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from emulator.errors import EmulatorError
from emulator.runtime.pip_errors import explain_pip_failure

if TYPE_CHECKING:
    from emulator.logs import EventLog

PYPROJECT = "pyproject.toml"
DEPS_DIRNAME = "python-deps"
MANIFEST_NAME = "cf-emulator-deps.json"
MANIFEST_FORMAT = 1
# Packages whose modules the emulator provides itself (its `workers`, `js` and `pyodide`
# stand-ins come first on sys.path) or that are tooling, not app code.
PROVIDED = {
    "workers-runtime-sdk": "cf-emulator provides the `workers` module",
    "pyodide-py": "cf-emulator provides the `pyodide` module",
    "workers-py": "pywrangler is a command-line tool, not app code",
}


class DependencyError(EmulatorError):
    """Dependencies cannot be made available; the message says why and what to do."""


class ProjectFileError(DependencyError):
    """An app's pyproject.toml cannot be read or declares something unusable."""


class ConflictError(DependencyError):
    """Two requirements on one package that no single version satisfies."""


class InstallError(DependencyError):
    """pip could not install the set."""


# --- reading an app's pyproject.toml ----------------------------------------------------

@dataclass(frozen=True)
class AppRequirements:
    """What one app declares (``requirements``: the ones that apply here and are installed)."""

    app: str
    pyproject: Path
    requirements: tuple[Requirement, ...] = ()
    requires_python: str | None = None
    allow_build: bool = False
    skipped: tuple[str, ...] = ()  # declared but provided by the emulator (PROVIDED)
    warnings: tuple[str, ...] = ()


def shown_path(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith(".." + os.sep + "..") else rel


def read_app_requirements(app: str, root: Path) -> AppRequirements | None:
    """The requirements in ``<root>/pyproject.toml``; ``None`` when there is no such file.

    pywrangler's project root is the folder holding both ``pyproject.toml`` and the wrangler
    config, so a pyproject.toml further up (a monorepo's, cf-emulator's own) is not the app's.
    """
    path = root / PYPROJECT
    if not path.is_file():
        return None
    where = shown_path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectFileError(f"Could not read {where}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProjectFileError(f"{where} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ProjectFileError(f"{where} is nested too deeply to read.") from None
    project = data.get("project", {})
    if not isinstance(project, dict):
        raise ProjectFileError(f"{where}: [project] must be a table.")
    raw = project.get("dependencies", [])
    if not isinstance(raw, list) or not all(isinstance(r, str) for r in raw):
        raise ProjectFileError(f"{where}: [project] dependencies must be an array of strings "
                               f'such as ["jinja2>=3.1"].')
    requires_python = project.get("requires-python")
    if requires_python is not None and not isinstance(requires_python, str):
        raise ProjectFileError(f"{where}: requires-python must be a string such as \">=3.12\".")
    tool = data.get("tool", {})
    pywrangler = tool.get("pywrangler", {}) if isinstance(tool, dict) else {}
    allow_build = bool(pywrangler.get("allow-build", False)) if isinstance(pywrangler, dict) else False
    requirements: list[Requirement] = []
    skipped: list[str] = []
    # packaging's Environment is a TypedDict whose fields are all str; a plain dict takes "extra".
    environment = cast("dict[str, str]", default_environment())
    for text in raw:
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            raise ProjectFileError(f"{where}: {text!r} in [project] dependencies is not a valid "
                                   f"requirement: {exc}") from None
        if canonicalize_name(req.name) in PROVIDED:
            skipped.append(req.name)
            continue
        if req.marker is not None and not req.marker.evaluate({**environment, "extra": ""}):
            continue  # e.g. `; python_version < "3.12"`: does not apply to this interpreter
        requirements.append(req)
    warnings: list[str] = []
    old = root / "requirements.txt"
    if old.is_file():
        # pywrangler refuses to sync while it exists (dependencies come from pyproject.toml only).
        warnings.append(f"{shown_path(old)} exists: pywrangler refuses to sync until it is deleted "
                        "(\"Delete the file to continue\"); list its packages in [project] dependencies "
                        f"of {where} instead. cf-emulator ignores it.")
    return AppRequirements(app, path, tuple(requirements), requires_python, allow_build, tuple(skipped),
                           tuple(warnings))


# --- what the process already has ----------------------------------------------------------

@dataclass(frozen=True)
class Installed:
    """A distribution (in cf-emulator's environment, or in an installed set)."""

    name: str
    version: str


def environment_distributions(exclude: Iterable[Path] = ()) -> dict[str, Installed]:
    """Distributions importable in this process from its own environment (canonical name →).

    Folders of installed app dependencies are left out (``exclude`` and the active ones); the
    first distribution of a name on ``sys.path`` wins, as an import would.
    """
    skip = {_norm(Path(p)) for p in exclude} | set(_active)
    paths = [p for p in sys.path if _norm(Path(p or ".")) not in skip]
    out: dict[str, Installed] = {}
    for dist in importlib.metadata.distributions(path=paths):
        name = dist.metadata["Name"] if dist.metadata is not None else None
        version = dist.version
        if not name or not version:
            continue
        out.setdefault(canonicalize_name(name), Installed(name, version))
    return out


def _norm(path: Path) -> str:
    try:
        return str(path.resolve())
    except OSError:
        return str(path)


# --- the plan: conflicts, what to install, the cache key ------------------------------------

@dataclass(frozen=True)
class DependencyPlan:
    apps: tuple[AppRequirements, ...]
    to_install: tuple[Requirement, ...]  # merged over the apps, sorted
    from_environment: dict[str, Installed]  # canonical name → the environment's copy an app uses
    environment: dict[str, Installed]
    allow_build: bool
    key: str

    @property
    def empty(self) -> bool:
        return not self.to_install


def satisfiable(specifiers: Iterable[SpecifierSet]) -> bool:
    """Whether one version satisfies every specifier set (pre-releases allowed).

    ``packaging`` answers "does this version match"; a version that matches all of them is
    searched among the versions the specifiers name and their neighbours (just above, just
    below, the next release of each part, a post-release), which covers how bounds are
    written in practice (``==1.2.*``, ``~=1.4``, ``>1.0,<1.0.1``).
    """
    combined = SpecifierSet()
    for spec_set in specifiers:
        combined &= spec_set
    if not list(combined):
        return True
    candidates: set[str] = {"0", "0.0.1", "999999"}
    for spec in combined:
        text = spec.version
        if spec.operator == "===":
            candidates.add(text)
            continue
        base = text[:-2] if text.endswith(".*") else text
        try:
            version = Version(base)
        except InvalidVersion:
            continue
        candidates.add(str(version))
        release = list(version.release)
        candidates.add(".".join(map(str, release)))
        candidates.add(".".join(map(str, release + [0, 1])))
        candidates.add(".".join(map(str, release + [1])))
        candidates.add(f"{version.base_version}.post1")
        for i in range(len(release)):
            bumped = release[:i] + [release[i] + 1]
            candidates.add(".".join(map(str, bumped)))
            if release[i] > 0:
                lower = release[:i] + [release[i] - 1]
                candidates.add(".".join(map(str, lower)))
                candidates.add(".".join(map(str, lower + [999999])))
    return any(combined.contains(c, prereleases=True) for c in candidates if _valid(c))


def _contains(specifier: SpecifierSet, version: str) -> bool:
    try:
        return specifier.contains(version, prereleases=True)
    except InvalidVersion:  # a legacy, non-PEP 440 version string in the environment
        return False


def _valid(text: str) -> bool:
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


def _describe(req: Requirement) -> str:
    return str(req).split(";")[0].strip()


def plan_dependencies(apps: Iterable[AppRequirements],
                      environment: dict[str, Installed] | None = None) -> DependencyPlan:
    """Check the apps' requirements against each other and the environment; merge the rest.

    Raises ``ConflictError`` naming the package and both requirements.
    """
    apps = tuple(apps)
    if environment is None:
        # Reading every installed distribution's metadata takes tens of milliseconds: only
        # when some app declares something.
        environment = environment_distributions() if any(app.requirements for app in apps) else {}
    uses: dict[str, list[tuple[AppRequirements, Requirement]]] = {}
    for app in apps:
        for req in app.requirements:
            uses.setdefault(canonicalize_name(req.name), []).append((app, req))
    to_install: dict[str, Requirement] = {}
    from_environment: dict[str, Installed] = {}
    for name, pairs in uses.items():
        for i, (app_a, req_a) in enumerate(pairs):
            for app_b, req_b in pairs[i + 1:]:
                _check_pair(app_a, req_a, app_b, req_b)
        have = environment.get(name)
        if have is not None:
            for app, req in pairs:
                if req.url or not _contains(req.specifier, have.version):
                    raise ConflictError(
                        f'App "{app.app}" requires {_describe(req)} ({shown_path(app.pyproject)}), but '
                        f"cf-emulator's own environment has {have.name} {have.version}. One interpreter runs "
                        "cf-emulator and every app it hosts, so there is one version of each package: "
                        f"allow {have.name} {have.version} in the requirement (or install cf-emulator in an "
                        f"environment whose {have.name} matches it, if cf-emulator's own requirements allow).")
            if not any(req.extras for _, req in pairs):
                from_environment[name] = have
                continue
        for _, req in pairs:
            to_install.setdefault(str(req), req)
    allow_build = any(app.allow_build for app in apps if app.requirements)
    requirements = tuple(sorted(to_install.values(), key=str))
    return DependencyPlan(apps, requirements, from_environment, environment, allow_build,
                          cache_key(requirements, environment, allow_build))


def _check_pair(app_a: AppRequirements, req_a: Requirement, app_b: AppRequirements, req_b: Requirement) -> None:
    if req_a.url and req_b.url:
        ok = req_a.url == req_b.url
    elif req_a.url or req_b.url:
        return  # a URL and a version range: only pip can tell
    else:
        ok = satisfiable([req_a.specifier, req_b.specifier])
    if ok:
        return
    if app_a is app_b:
        who = (f'App "{app_a.app}" requires both {_describe(req_a)} and {_describe(req_b)} '
               f"({shown_path(app_a.pyproject)})")
    else:
        who = (f'Apps "{app_a.app}" and "{app_b.app}" need conflicting versions of {req_a.name}: '
               f'"{app_a.app}" requires {_describe(req_a)} ({shown_path(app_a.pyproject)}) and '
               f'"{app_b.app}" requires {_describe(req_b)} ({shown_path(app_b.pyproject)})')
    raise ConflictError(
        f"{who}; no version of {req_a.name} satisfies both. All apps one `cf-emulator dev` hosts share one "
        "Python interpreter (one module table, one version of each package): align the requirements, "
        "or host these apps in separate `cf-emulator dev` processes.")


def merged_requirements(requirements: Iterable[Requirement]) -> list[str]:
    """One entry per package, its specifiers combined (``tinylib>=1,<3``): for messages."""
    merged: dict[str, tuple[str, set[str], SpecifierSet, set[str]]] = {}
    for req in requirements:
        key: str = canonicalize_name(req.name)
        name, extras, spec, urls = merged.get(key, (req.name, set(), SpecifierSet(), set()))
        extras |= req.extras
        if req.url:
            urls.add(req.url)
        merged[key] = (name, extras, spec & req.specifier, urls)
    out = []
    for key in sorted(merged):
        name, extras, spec, urls = merged[key]
        text = name + (f"[{','.join(sorted(extras))}]" if extras else "")
        text += f" @ {' '.join(sorted(urls))}" if urls else ",".join(sorted(str(s) for s in spec))
        out.append(text)
    return out


def cache_key(requirements: Iterable[Requirement], environment: dict[str, Installed], allow_build: bool) -> str:
    """Hash of what decides the installed files: the set, the interpreter, the environment."""
    payload = {
        "format": MANIFEST_FORMAT,
        "python": sys.implementation.cache_tag,
        "version": sys.version.split()[0],
        "platform": sysconfig.get_platform(),
        "requirements": sorted(str(r) for r in requirements),
        "environment": sorted(f"{canonicalize_name(d.name)}=={d.version}" for d in environment.values()),
        "allow_build": allow_build,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


# --- an installed set ---------------------------------------------------------------------

@dataclass(frozen=True)
class InstalledDistribution:
    name: str
    version: str
    top_level: tuple[str, ...]  # importable top-level names it provides
    requires: tuple[str, ...]  # Requires-Dist, as written
    pure: bool  # pure Python (a py3-none-any wheel): production can use it as is

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "version": self.version, "top_level": list(self.top_level),
                "requires": list(self.requires), "pure": self.pure}


@dataclass(frozen=True)
class InstalledSet:
    """A plan made available: ``folder`` is None when nothing needed installing."""

    plan: DependencyPlan
    folder: Path | None
    distributions: dict[str, InstalledDistribution] = field(default_factory=dict)
    cached: bool = False
    seconds: float = 0.0


def deps_root(state_root: Path) -> Path:
    return Path(state_root) / DEPS_DIRNAME


def read_manifest(folder: Path) -> dict[str, InstalledDistribution] | None:
    """The distributions recorded in a finished install, or None if it is not one."""
    try:
        data = json.loads((folder / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        return None
    out: dict[str, InstalledDistribution] = {}
    for item in data.get("distributions", []):
        try:
            dist = InstalledDistribution(str(item["name"]), str(item["version"]), tuple(item["top_level"]),
                                         tuple(item["requires"]), bool(item["pure"]))
        except (KeyError, TypeError):
            return None
        out[canonicalize_name(dist.name)] = dist
    return out


def scan_distributions(folder: Path) -> dict[str, InstalledDistribution]:
    """What pip put in ``folder``: names, versions, top-level modules, requirements, purity."""
    out: dict[str, InstalledDistribution] = {}
    for info in sorted(folder.glob("*.dist-info")):
        dist = importlib.metadata.PathDistribution(info)
        name = dist.metadata["Name"]
        if not name:
            continue
        top: set[str] = set()
        for file in dist.files or []:
            parts = file.parts
            if not parts or parts[0] in ("..", "bin", "__pycache__") or parts[0].endswith((".dist-info", ".data")):
                continue
            if len(parts) == 1:
                stem, dot, suffix = parts[0].partition(".")
                if dot and (suffix == "py" or suffix.endswith(("so", "pyd"))) and stem.isidentifier():
                    top.add(stem)
            elif parts[0].isidentifier():
                top.add(parts[0])
        wheel = dist.read_text("WHEEL") or ""
        tags = [line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")]
        pure = bool(tags) and all(t.endswith("-none-any") for t in tags)
        out[canonicalize_name(name)] = InstalledDistribution(
            name, dist.version, tuple(sorted(top)), tuple(dist.requires or ()), pure)
    return out


def _write_manifest(folder: Path, plan: DependencyPlan, dists: dict[str, InstalledDistribution]) -> None:
    data = {"format": MANIFEST_FORMAT, "key": plan.key, "python": sys.version.split()[0],
            "requirements": [str(r) for r in plan.to_install],
            "distributions": [d.to_json() for d in dists.values()]}
    tmp = folder / (MANIFEST_NAME + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(folder / MANIFEST_NAME)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_abandoned(root: Path) -> None:
    """Temp files of installs whose process died (``kill -9`` in the middle of pip)."""
    for tmp in root.glob(".tmp-*"):
        pid = tmp.name.split("-")[1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)


def _pip_command(plan: DependencyPlan, target: Path, requirements: Path, constraints: Path) -> list[str]:
    command = [sys.executable, "-m", "pip", "install", "--target", str(target), "--no-input",
               "--disable-pip-version-check", "--no-warn-script-location", "--progress-bar", "off",
               "-r", str(requirements), "-c", str(constraints)]
    if not plan.allow_build:
        # pywrangler resolves with --no-build: only wheels, no setup.py runs.
        command += ["--only-binary", ":all:"]
    return command


async def install(plan: DependencyPlan, state_root: Path, log: EventLog | None = None, *,
                  force: bool = False) -> InstalledSet:
    """Make ``plan`` available under ``<state>/python-deps/<key>/`` (cached by key).

    A finished install is renamed into place in one step, so an interrupted one never
    looks finished; ``force`` reinstalls even when a finished copy exists.
    """
    if plan.empty:
        return InstalledSet(plan, None)
    try:
        return await _install(plan, state_root, log, force)
    except OSError as exc:
        raise InstallError(f"Could not install Python packages under {shown_path(deps_root(state_root))}: "
                           f"{exc}") from None


async def _install(plan: DependencyPlan, state_root: Path, log: EventLog | None, force: bool) -> InstalledSet:
    root = deps_root(state_root)
    folder = root / plan.key
    if not force:
        dists = read_manifest(folder)
        if dists is not None:
            return InstalledSet(plan, folder, dists, cached=True)
    root.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(root)
    apps = ", ".join(f'"{a.app}"' for a in plan.apps if a.requirements)
    wanted = ", ".join(merged_requirements(plan.to_install))
    if log is not None:
        log.info("dev", f"Installing Python packages for {apps}: {wanted} (into {shown_path(folder)})",
                 packages=[str(r) for r in plan.to_install], folder=str(folder))
    # `.tmp-<pid>-...`: a later install removes them if this process dies half way.
    tmp = root / f".tmp-{os.getpid()}-{plan.key}"
    shutil.rmtree(tmp, ignore_errors=True)
    requirements = root / f".tmp-{os.getpid()}-{plan.key}-requirements.txt"
    constraints = root / f".tmp-{os.getpid()}-{plan.key}-constraints.txt"
    started = time.monotonic()
    try:
        requirements.write_text("".join(f"{r}\n" for r in plan.to_install))
        # Pins of what the process already has: whatever pip adds must work with them.
        constraints.write_text("".join(f"{canonicalize_name(d.name)}=={d.version}\n"
                                       for d in plan.environment.values()))
        code, output = await _run_pip(_pip_command(plan, tmp, requirements, constraints), log)
        if code != 0:
            raise InstallError(explain_pip_failure(output, plan))
        dists = scan_distributions(tmp)
        _write_manifest(tmp, plan, dists)
        if folder.exists() and (force or read_manifest(folder) is None):
            shutil.rmtree(folder)  # replaced on purpose, or not a finished install
        try:
            tmp.rename(folder)
        except OSError:
            # Another process finished the same set first (renamed in one step): use its copy.
            existing = read_manifest(folder)
            if existing is None:
                raise
            dists = existing
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        requirements.unlink(missing_ok=True)
        constraints.unlink(missing_ok=True)
    seconds = time.monotonic() - started
    if log is not None:
        log.info("dev", f"Installed {len(dists)} Python package(s) in {seconds:.1f}s: "
                        + ", ".join(f"{d.name} {d.version}" for d in dists.values()),
                 folder=str(folder), seconds=round(seconds, 2))
    return InstalledSet(plan, folder, dists, cached=False, seconds=seconds)


async def _run_pip(command: list[str], log: EventLog | None) -> tuple[int, str]:
    """Run pip, showing each package as pip reaches it; its whole output for the error text."""
    proc = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            lines.append(line)
            if log is None:
                continue
            if line.startswith(("Collecting ", "Processing ")):
                # The progress line: which package pip is on (from an index, or a local file).
                log.info("deps", "  " + line.split(" (from ")[0])
            else:
                log.debug("deps", line)
        return await proc.wait(), "\n".join(lines)
    finally:
        if proc.returncode is None:  # cancelled (Ctrl-C during start): stop our pip
            proc.kill()
            await proc.wait()


# --- which app sees which package -----------------------------------------------------------

def reachable(requirements: Iterable[Requirement], dists: dict[str, InstalledDistribution]) -> set[str]:
    """Canonical names of the installed distributions these requirements reach (with extras)."""
    environment = cast("dict[str, str]", default_environment())  # see read_app_requirements
    seen: set[tuple[str, frozenset[str]]] = set()
    out: set[str] = set()
    stack = [(canonicalize_name(r.name), frozenset(r.extras)) for r in requirements]
    while stack:
        name, extras = stack.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        dist = dists.get(name)
        if dist is None:
            continue  # satisfied by cf-emulator's environment (always visible)
        out.add(name)
        for text in dist.requires:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            if req.marker is not None and not any(req.marker.evaluate({**environment, "extra": e})
                                                  for e in ("", *extras)):
                continue
            stack.append((canonicalize_name(req.name), frozenset(req.extras)))
    return out


@dataclass
class Activation:
    """An installed set on ``sys.path``, and what each app may import from it."""

    installed: InstalledSet
    hidden: dict[str, dict[str, str]]  # app → {top-level module: the app(s) that declared it}
    active: bool = True

    def deactivate(self) -> None:
        """Take the folder off ``sys.path`` and forget its modules (the emulator stops)."""
        if not self.active:
            return
        self.active = False
        folder = self.installed.folder
        for app in self.hidden:
            if _views.get(app) is self.hidden[app]:
                del _views[app]
        if folder is None:
            return
        key = _norm(folder)
        users = _active.get(key, 0) - 1
        if users > 0:
            _active[key] = users
            return
        _active.pop(key, None)
        _active_sets.pop(key, None)
        text = str(folder)
        while text in sys.path:
            sys.path.remove(text)
        sys.path_importer_cache.pop(text, None)
        prefix = text + os.sep
        for name, module in list(sys.modules.items()):
            origin = getattr(module, "__file__", None) or ""
            if origin.startswith(prefix):
                del sys.modules[name]
        importlib.invalidate_caches()


# Process-wide: folders on sys.path (→ how many activations use them), what each holds, and
# per-app hidden names. Several emulators may run in one process (tests): they share sys.path.
_active: dict[str, int] = {}
_active_sets: dict[str, dict[str, InstalledDistribution]] = {}
_views: dict[str, dict[str, str]] = {}


def activate(installed: InstalledSet, hosted: Iterable[str] = ()) -> Activation:
    """Put the installed folder on ``sys.path`` and register, for each app of the plan and
    each other ``hosted`` app, the installed modules it must not import."""
    dists = installed.distributions
    plan = installed.plan
    requirements = {app.app: app.requirements for app in plan.apps}
    for name in hosted:
        requirements.setdefault(name, ())
    reach = {app: reachable(reqs, dists) for app, reqs in requirements.items()}
    declared_by: dict[str, set[str]] = {}
    for app, names in reach.items():
        for name in names:
            declared_by.setdefault(name, set()).add(app)
    hidden: dict[str, dict[str, str]] = {}
    for app, names in reach.items():
        visible = {top for name in names for top in dists[name].top_level}
        out: dict[str, str] = {}
        for name, dist in dists.items():
            if name in names or name in plan.environment:
                continue  # the app's own, or shadowed by the environment's copy anyway
            for top in dist.top_level:
                if top not in visible:
                    out[top] = ", ".join(f'"{a}"' for a in sorted(declared_by.get(name, ()))) or "another app"
        hidden[app] = out
    if installed.folder is not None:
        key = _norm(installed.folder)
        for other, other_dists in _active_sets.items():
            if other == key:
                continue
            for name, dist in dists.items():
                theirs = other_dists.get(name)
                if theirs is not None and theirs.version != dist.version:
                    raise ConflictError(
                        f"Another emulator running in this process has {theirs.name} {theirs.version} on sys.path "
                        f"({other}); these apps need {dist.name} {dist.version}. One process has one version of "
                        "each package: stop the other emulator first, or run these apps in their own process.")
    activation = Activation(installed, hidden)
    if installed.folder is not None:
        key = _norm(installed.folder)
        _active_sets[key] = dict(dists)
        if key not in _active:
            # After the environment's folders: the constraints made every package both have
            # the same version, and cf-emulator's own imports must never pick up an app's copy.
            sys.path.append(str(installed.folder))
            importlib.invalidate_caches()
        _active[key] = _active.get(key, 0) + 1
    _views.update(hidden)
    return activation


def hidden_modules(app: str) -> dict[str, str]:
    """Top-level modules installed for other hosted apps, which ``app`` must not import
    (module → the app(s) that declared the package). Empty when no set is active."""
    return _views.get(app, {})


def not_pure_python(installed: InstalledSet) -> list[InstalledDistribution]:
    """Installed distributions with compiled code: production's Pyodide can use them only
    if Pyodide builds them (pywrangler's resolver then takes Pyodide's wheel)."""
    return [d for d in installed.distributions.values() if not d.pure]
