"""Importing app code under the names it expects, in isolation, and re-importing it on reload.

Production runs one Worker per isolate: the folder of its main module is its module root, and
every file and package there is importable under its own name (Django's
``DJANGO_SETTINGS_MODULE = "hello_django.settings"``, ``INSTALLED_APPS = ["todos"]``). The
emulator hosts several apps in one interpreter — one ``sys.modules`` — and two of them may both
have ``src/entry.py`` or a ``_lib`` package. Each *load generation* of an app is an
``AppPackage``, and each top-level name of its import root (the folder of ``main`` for a
Worker, ``functions/`` for Pages Functions, the output directory for ``_worker.py``) is
imported in one of two ways (docs/hosting.md, "Module names"):

- **plain**, as in production (``hello_django.settings`` is ``sys.modules["hello_django.settings"]``,
  ``__name__`` and models' ``__module__`` are the plain names), so that code importing by name
  — ``importlib.import_module``, ``__import__`` or ``pkgutil`` in libraries, Django's settings,
  URLconf and app registry — finds the app's modules. A meta-path finder (first on
  ``sys.meta_path``) answers for the plain names an app currently owns, from that app's root;
- **private**, as a submodule of the generation's package ``_cfapp_<name>_<n>``, when the name
  is also a top-level name of another app hosted alongside (``neighbours``), or shadows the
  standard library, an installed package or a module already imported from elsewhere (the
  emulator's own process must keep its ``json`` and ``aiohttp``). App code still finds its own
  module (below); only libraries that import it by name do not. The generation lists these
  as ``collisions`` (data: the host warns once, naming the app, the name and the consequence).
  Apps of one emulator decide symmetrically (both lose the shared name), so which app gets a
  name never depends on load order. Names the host imports by path (``entry_names``: the
  main module, Pages routes) go private without a warning, since nothing imports them by
  name; a root-level ``__init__`` or ``__main__`` is always private. Several emulators in one
  process (tests) share ``sys.modules`` but not their lists of apps: an app that loads later
  takes over a plain name another emulator's app holds (that app's objects keep working).

App modules execute with their own ``__builtins__`` whose ``__import__`` maps an absolute import
of a private top-level name (``import utils``) to the generation's package, so sibling imports
work as on Cloudflare and never leak into another app. An absolute import of a plain name
owned by *another* app, or of a package installed for *other* hosted apps' ``pyproject.toml``
dependencies, raises ``ModuleNotFoundError`` as it would in production, where an app has only
its own modules and packages (``emulator.runtime.dependencies``, docs/dependencies.md).
Everything else (``workers``, ``js``, the standard library, third-party packages) is imported
normally and shared. Sources are compiled without bytecode caching: no ``__pycache__`` appears in
app folders (it would wake the file watcher), and an edit within the same second is never
hidden by a stale ``.pyc``. Tracebacks point at the app's files.

Reload. A reload imports a fresh generation. Its construction takes the plain names over:
the previous generation's plain-named modules leave ``sys.modules`` (kept aside) and the
finder answers from the new generation. ``commit()`` (the import succeeded) forgets the old
modules; ``unload()`` of an uncommitted generation (the import failed) removes what it
imported and puts the previous generation's modules and routes back. Reloads run on the event
loop's thread, so no request coroutine observes the swap half done; objects held by in-flight
requests keep working (they reference their modules directly). Synchronous app code running
in a worker thread meanwhile (WSGI apps, ``run_sync``) that imports one of the app's modules
*by name* during the swap gets the new generation's — as does old code's lazy import after it.

Libraries that configure themselves once per process from app modules (Django's settings, app
registry and URL resolver cache) keep the first generation's state across reloads; the hosts
detect and report that (``emulator.runtime.library_state``) instead of pretending the reload
took effect.
"""

from __future__ import annotations

import builtins
import importlib
import itertools
import re
import sys
import traceback
import types
from dataclasses import dataclass
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec, PathFinder, SourceFileLoader
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from typing import Any, Literal
from collections.abc import Collection, Mapping, Sequence

from emulator.errors import EmulatorError
from emulator.runtime.dependencies import hidden_modules

SHIMS_DIR = Path(__file__).resolve().parent / "shims"


class AppLoadError(EmulatorError):
    """App code could not be imported (syntax error, import error, bad entrypoint)."""

    def __init__(self, message: str, traceback_text: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.traceback_text = traceback_text

    def __str__(self) -> str:
        return self.message

    def with_traceback_text(self) -> str:
        """The message plus the app's traceback (what the developer must see to fix it)."""
        tb = self.traceback_text
        if tb and tb.strip() not in self.message:
            return f"{self.message}\n{tb.rstrip()}"
        return self.message


def shims_path() -> Path:
    """The folder holding the ``workers``, ``js`` and ``pyodide`` stand-ins."""
    return SHIMS_DIR


def ensure_import_hooks() -> None:
    """Put the shims on ``sys.path`` and the app finder on ``sys.meta_path`` (idempotent)."""
    shims = str(SHIMS_DIR)
    if shims not in sys.path:
        # First, so that a stray install of the real (Pyodide-only) SDK cannot shadow it.
        sys.path.insert(0, shims)
    if not any(isinstance(f, _AppFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _AppFinder())


# Private package name → its generation; plain top-level name → the generation answering for
# it. Process-wide: several emulators may run in one process (tests), sharing sys.modules.
_packages: dict[str, AppPackage] = {}
_plain: dict[str, AppPackage] = {}
_counter = itertools.count(1)
_INTERNAL_FILES = (str(Path(__file__).resolve().parent), "<frozen importlib")

CollisionKind = Literal["app", "stdlib", "installed", "reserved"]


@dataclass(frozen=True)
class NameCollision:
    """A top-level name of an app that is imported under its private package, and why."""

    name: str
    kind: CollisionKind
    # "app": the other hosted apps that have the name; "installed": where the other module is.
    other: tuple[str, ...] = ()

    def reason(self) -> str:
        if self.kind == "app":
            return "also in " + ", ".join(f'"{app}"' for app in self.other)
        if self.kind == "stdlib":
            return "a standard library module"
        if self.kind == "reserved":
            return "a name Python reserves"
        return f"also {self.other[0]}" if self.other else "also installed"


def describe_collisions(collisions: Sequence[NameCollision]) -> str:
    """The warning a host logs for a generation's ``collisions`` (one line for all of them)."""
    names = ", ".join(f"`{c.name}` ({c.reason()})" for c in collisions)
    shared = any(c.kind == "app" for c in collisions)
    shadows = any(c.kind != "app" for c in collisions)
    return (f"top-level modules imported under a private name: {names}. The app's own imports find them; "
            "libraries that import them by name (importlib, pkgutil, Django's settings, URLconf or "
            f"INSTALLED_APPS) {'get the other module or ' if shadows else ''}do not find them. If such a library "
            "needs one, rename it"
            + (" or host these apps in separate `cf-emulator dev` processes (production runs each Worker in its "
               "own isolate, where other apps' names never get in the way)" if shared else "") + ".")


class _AppSourceLoader(SourceFileLoader):
    def __init__(self, fullname: str, path: str, package: AppPackage) -> None:
        super().__init__(fullname, path)
        self.package = package

    def get_code(self, fullname: str) -> types.CodeType:
        path = self.get_filename(fullname)
        return compile(self.get_data(path), path, "exec", dont_inherit=True)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__dict__["__builtins__"] = self.package.builtins
        super().exec_module(module)


class _FolderLoader(Loader):
    """A folder without ``__init__.py`` as a package whose ``__path__`` is that folder.

    Rather than a namespace package: ``functions/api.py`` and ``functions/api/`` commonly sit
    side by side (Pages routing), where a namespace lookup would pick the file, and a top-level
    namespace package recomputes its path from ``sys.path``, where app folders never are.
    """

    def create_module(self, spec: ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        return None


_FOLDER_LOADER = _FolderLoader()


def _folder_spec(name: str, folder: str) -> ModuleSpec:
    spec = ModuleSpec(name, _FOLDER_LOADER, is_package=True)
    spec.submodule_search_locations = [folder]
    return spec


class _AppFinder(MetaPathFinder):
    """Finds app modules: submodules of private packages, and the plain names apps own."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
                  ) -> ModuleSpec | None:
        top, dot, _ = fullname.partition(".")
        package = _packages.get(top)
        if package is not None:
            return package.find_spec(fullname, path) if dot else None
        package = _plain.get(top)
        if package is None:
            return None
        return package.find_spec(fullname, path if dot else [str(package.root)])


def is_app_module(module_globals: Mapping[str, Any]) -> bool:
    """Whether these are the globals of an app module (imported by this loader)."""
    return isinstance(module_globals.get("__loader__"), _AppSourceLoader)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)[:40] or "app"


def top_level_names(root: Path) -> dict[str, bool]:
    """The names an import root offers (``x.py`` files, folders named like identifiers), each
    with whether it looks like Python (a file, or a folder with ``.py`` files at its top):
    ``public/`` or ``node_modules/`` next to a root-level ``main`` share a name silently."""
    names: dict[str, bool] = {}
    if not root.is_dir():
        return names
    for entry in root.iterdir():
        if entry.suffix == ".py" and entry.is_file() and entry.stem.isidentifier():
            names[entry.stem] = True
        elif entry.is_dir() and entry.name.isidentifier() and entry.name != "__pycache__":
            names[entry.name] = names.get(entry.name, False) or _holds_python(entry)
    return names


def _holds_python(folder: Path) -> bool:
    try:
        return any(p.suffix == ".py" for p in folder.iterdir())
    except OSError:  # unreadable: nothing imports from it
        return False


def _inside(path: str, root: Path) -> bool:
    try:
        return Path(path).resolve().is_relative_to(root)
    except (OSError, ValueError):
        return False


def _provided_elsewhere(name: str, root: Path) -> NameCollision | None:
    """Whether ``name`` is the standard library's or another module the process can import."""
    if name in sys.stdlib_module_names or name in sys.builtin_module_names:
        return NameCollision(name, "stdlib")
    module = sys.modules.get(name)
    if module is not None:
        if name in _plain:
            return None  # an app generation's own (a reload of that app, or a stopped emulator's)
        where = getattr(module, "__file__", None)
        return NameCollision(name, "installed", (f"imported from {where}" if where else "already imported",))
    for finder in sys.meta_path:
        if isinstance(finder, _AppFinder):
            continue
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        try:
            spec = find(name, None)
        except Exception:  # noqa: BLE001 - a third-party finder's bug must not stop an app loading
            continue
        if spec is None:
            continue
        if spec.submodule_search_locations is not None and spec.origin in (None, "namespace"):
            continue  # a bare folder of that name on sys.path: not a package anything relies on
        if spec.origin is not None and _inside(spec.origin, root):
            continue  # the app's own folder is on sys.path (`python -m emulator` run in it)
        return NameCollision(name, "installed", (f"installed at {spec.origin}" if spec.origin else "installed",))
    return None


def _forget_folder_listings(root: Path) -> None:
    # The path finders cache folder listings by mtime; a file created by the edit that
    # triggered this reload must be seen even on a filesystem with coarse timestamps.
    prefix = str(root)
    for key, finder in list(sys.path_importer_cache.items()):
        # invalidate_caches is optional for path entry finders (importlib.abc.PathEntryFinder).
        invalidate = getattr(finder, "invalidate_caches", None)
        if key.startswith(prefix) and invalidate is not None:
            invalidate()


class AppPackage:
    """One load generation of one app's modules: plain names where it can, a private package
    (``_cfapp_<name>_<n>``) for the rest.

    ``neighbours`` are the import roots of the other apps hosted alongside (app name → root):
    a top-level name that one of them also has is private in both. ``entry_names`` are the
    top-level names the host imports by path (the main module, Pages routes): nothing imports
    them by name, so their private names are not worth a warning (two Workers with
    ``src/entry.py`` are the usual multi-app setup).
    Lifecycle: construct (takes the plain names over), ``import_file`` what the app needs, then
    ``commit()`` when the generation is to serve, or ``unload()`` (a failed load puts the
    previous generation back; a committed one just forgets its modules).
    """

    def __init__(self, app_name: str, root: Path, neighbours: Mapping[str, Path] | None = None,
                 entry_names: Collection[str] = ()) -> None:
        ensure_import_hooks()
        self.root = root.resolve()
        self.app_name = app_name
        self.name = f"_cfapp_{_slug(app_name)}_{next(_counter)}"
        names = top_level_names(self.root)
        self.top_names = set(names)
        # Installed for other apps only (module → who declared it); read at each load, so a
        # reload sees the set the emulator runs with now.
        self.hidden = hidden_modules(app_name)
        # Top-level names app code imported absolutely (library_state asks: "does it use Django?").
        self.imported: set[str] = set()
        _forget_folder_listings(self.root)
        private = self._private_names(names, neighbours or {})
        self.plain = frozenset(self.top_names - set(private))
        # What the host warns about: names that look like Python (a shared `public/` is no news)
        # and that something might import by name.
        self.collisions = [c for name, c in sorted(private.items())
                           if names[name] and c.kind != "reserved" and name not in entry_names]
        self.builtins: dict[str, Any] = dict(builtins.__dict__)
        self.builtins["__import__"] = self._import
        module = module_from_spec(_folder_spec(self.name, str(self.root)))
        module.__doc__ = f"app package of {app_name} ({self.root})"
        _packages[self.name] = self
        sys.modules[self.name] = module
        self.state: Literal["loading", "committed", "unloaded"] = "loading"
        # Until commit: the previous owners of our plain names and their modules, to put back
        # if this generation fails to load.
        self._previous: dict[str, AppPackage] = {}
        self._displaced: dict[str, types.ModuleType] = {}
        self._take_plain_names()

    def _private_names(self, names: Mapping[str, bool], neighbours: Mapping[str, Path]) -> dict[str, NameCollision]:
        theirs = {app: top_level_names(Path(root).resolve())
                  for app, root in neighbours.items() if app != self.app_name}
        private: dict[str, NameCollision] = {}
        for name in names:
            if name.startswith("__") and name.endswith("__"):
                # `__init__.py` or `__main__.py` at the root: never a module of its own name
                # (`__main__` is the emulator's), and nothing to warn about.
                private[name] = NameCollision(name, "reserved")
                continue
            sharing = tuple(sorted(app for app, offered in theirs.items() if name in offered))
            found = NameCollision(name, "app", sharing) if sharing else _provided_elsewhere(name, self.root)
            if found is not None:
                private[name] = found
        return private

    def _take_plain_names(self) -> None:
        for name in self.plain:
            previous = _plain.get(name)
            if previous is not None:
                self._previous[name] = previous
            _plain[name] = self
        for key in list(sys.modules):
            if key.partition(".")[0] in self.plain:
                self._displaced[key] = sys.modules.pop(key)

    def find_spec(self, fullname: str, path: Sequence[str] | None) -> ModuleSpec | None:
        """The spec of app module ``fullname`` (plain or private), searched in ``path``."""
        spec = PathFinder.find_spec(fullname, path)
        if spec is None:
            return None
        if spec.origin in (None, "namespace") and spec.submodule_search_locations is not None:
            return _folder_spec(fullname, next(iter(spec.submodule_search_locations)))
        if not isinstance(spec.loader, SourceFileLoader) or spec.origin is None:
            return spec  # extension modules
        return spec_from_file_location(
            fullname, spec.origin, loader=_AppSourceLoader(fullname, spec.origin, self),
            submodule_search_locations=spec.submodule_search_locations,
        )

    def _import(self, name: str, globals: Any = None, locals: Any = None, fromlist: Any = (),
                level: int = 0) -> types.ModuleType:
        if level == 0 and name:
            top = name.partition(".")[0]
            self.imported.add(top)
            if top in self.top_names:
                if top in self.plain:
                    return builtins.__import__(name, globals, locals, fromlist, 0)
                module = builtins.__import__(f"{self.name}.{name}", globals, locals, fromlist, 0)
                return module if fromlist else sys.modules[f"{self.name}.{top}"]
            if top in self.hidden:
                raise ModuleNotFoundError(
                    f"No module named '{top}' ({top} is installed for {self.hidden[top]}, not for "
                    f"{self.app_name!r}: add the package to [project] dependencies in this app's "
                    "pyproject.toml)", name=top)
            owner = _plain.get(top)
            if owner is not None and owner.app_name != self.app_name:
                raise ModuleNotFoundError(
                    f"No module named '{top}' ({top} is a module of the app {owner.app_name!r}, not of "
                    f"{self.app_name!r}: each Worker imports only its own files)", name=top)
        return builtins.__import__(name, globals, locals, fromlist, level)

    def _qualified(self, parts: Sequence[str]) -> str:
        """The ``sys.modules`` name of the app module at ``parts`` (relative to the import root)."""
        if parts[0] in self.plain:
            return ".".join(parts)
        return ".".join((self.name, *parts))

    def _package_for(self, folder: Path) -> str:
        """The package name of a folder inside the import root, created on first use.

        Folders without ``__init__.py`` get a synthetic package (``_FolderLoader``).
        """
        parts = folder.relative_to(self.root).parts
        if not parts:
            return self.name
        current = self.root
        parent: types.ModuleType | None = None
        for i, part in enumerate(parts):
            if "." in part:
                raise AppLoadError(f"cannot import from {folder}: folder names must not contain dots")
            current = current / part
            name = self._qualified(parts[: i + 1])
            module = sys.modules.get(name)
            if module is None:
                if (current / "__init__.py").is_file():
                    module = importlib.import_module(name)
                else:
                    module = module_from_spec(_folder_spec(name, str(current)))
                    sys.modules[name] = module
            if parent is not None and not hasattr(parent, part):
                setattr(parent, part, module)  # as the import system binds a submodule on its parent
            parent = module
        return self._qualified(parts)

    def import_file(self, path: Path) -> types.ModuleType:
        """Import a source file of the app; ``AppLoadError`` with the app's traceback."""
        path = path.resolve()
        try:
            self._package_for(path.parent)
            leaf = path.stem
            if "." in leaf:
                raise AppLoadError(f"cannot import {path}: file names must not contain dots besides .py")
            if (path.parent / leaf).is_dir():
                leaf += "__module"  # a sibling folder of the same name owns the plain name
            name = self._qualified((*path.parent.relative_to(self.root).parts, leaf))
            if name in sys.modules:
                return sys.modules[name]
            loader = _AppSourceLoader(name, str(path), self)
            spec = spec_from_file_location(name, path, loader=loader)
            assert spec is not None
            module = module_from_spec(spec)
            sys.modules[name] = module
            try:
                loader.exec_module(module)
            except BaseException:
                sys.modules.pop(name, None)
                raise
            return module
        except AppLoadError:
            raise
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit etc. from an app's top level too
            raise AppLoadError(
                f"failed to load {path}: {type(exc).__name__}: {exc}", app_traceback(exc)
            ) from exc

    def commit(self) -> None:
        """This generation serves from now on: the previous one's plain-named modules, set
        aside when this one was created, are let go (objects still using them keep working)."""
        if self.state == "loading":
            self.state = "committed"
        self._previous.clear()
        self._displaced.clear()

    def unload(self) -> None:
        """Forget this generation's modules (objects still referenced keep working).

        Uncommitted (its load failed or was abandoned), it also puts back the plain names and
        modules of the generation it was to replace, which then serves on.
        """
        if self.state == "unloaded":
            return
        mine = {name for name in self.plain if _plain.get(name) is self}
        for key in list(sys.modules):
            if key.partition(".")[0] in mine:
                del sys.modules[key]
        for name in mine:
            del _plain[name]
        if self.state == "loading":
            for name, previous in self._previous.items():
                if name in mine and previous.state != "unloaded":
                    _plain[name] = previous
            for key, module in self._displaced.items():
                owner = self._previous.get(key.partition(".")[0])
                if owner is not None and _plain.get(key.partition(".")[0]) is owner:
                    sys.modules[key] = module
        prefix = self.name + "."
        for key in [k for k in sys.modules if k == self.name or k.startswith(prefix)]:
            del sys.modules[key]
        _packages.pop(self.name, None)
        self.state = "unloaded"
        self._previous.clear()
        self._displaced.clear()


def app_traceback(exc: BaseException) -> str:
    """A traceback of app code: emulator and import-machinery frames left out."""
    te = traceback.TracebackException.from_exception(exc)
    _strip_internal(te)
    return "".join(te.format()).rstrip()


def _strip_internal(te: traceback.TracebackException) -> None:
    frames = [f for f in te.stack if not (f.filename or "").startswith(_INTERNAL_FILES)]
    te.stack = traceback.StackSummary.from_list(frames)
    if te.__cause__ is not None:
        _strip_internal(te.__cause__)
    if te.__context__ is not None:
        _strip_internal(te.__context__)
