"""Importing app code in isolation, and re-importing it on reload.

Several apps share one interpreter, and two apps may both have ``src/entry.py`` or a
``utils.py``; a plain ``sys.path`` entry per app would make them collide in
``sys.modules``. So each *load generation* of an app gets a private package:

- a synthetic package ``_cfapp_<name>_<n>`` whose ``__path__`` is the app's import root
  (the folder of ``main`` for a Worker, ``functions/`` for Pages Functions, the output
  directory for ``_worker.py``); app modules are imported as its submodules, through a
  meta-path finder that only answers for these packages;
- app modules execute with their own ``__builtins__`` whose ``__import__`` maps an
  absolute import of a top-level name found in the import root (``import utils``,
  ``from lib.db import x``) to the app's package (``_cfapp_web_3.utils``), so sibling
  imports work as they do on Cloudflare (the main module's folder is the import root)
  and never leak into another app. Everything else (``workers``, ``js``, the standard
  library, third-party packages) is imported normally and shared — except the packages
  installed for *other* hosted apps' ``pyproject.toml`` dependencies: an import of one of
  those raises ``ModuleNotFoundError`` as it would in production, where an app has only its
  own packages (``emulator.runtime.dependencies``, docs/dependencies.md).
- sources are compiled without bytecode caching: no ``__pycache__`` appears in app
  folders (which would wake the file watcher), and an edit within the same second is
  never hidden by a stale ``.pyc``.

A reload imports a fresh generation; only when it succeeds is the previous one dropped
from ``sys.modules`` (objects still in use by in-flight requests keep working).
"""

from __future__ import annotations

import builtins
import importlib
import itertools
import re
import sys
import traceback
import types
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec, PathFinder, SourceFileLoader
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from typing import Any, Sequence

from emulator.runtime.dependencies import hidden_modules

SHIMS_DIR = Path(__file__).resolve().parent / "shims"


class AppLoadError(Exception):
    """App code could not be imported (syntax error, import error, bad entrypoint)."""

    def __init__(self, message: str, traceback_text: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.traceback_text = traceback_text

    def __str__(self) -> str:
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


_packages: dict[str, "AppPackage"] = {}
_counter = itertools.count(1)
_INTERNAL_FILES = (str(Path(__file__).resolve().parent), "<frozen importlib")


class _AppSourceLoader(SourceFileLoader):
    def __init__(self, fullname: str, path: str, package: "AppPackage") -> None:
        super().__init__(fullname, path)
        self.package = package

    def get_code(self, fullname: str) -> types.CodeType:
        path = self.get_filename(fullname)
        return compile(self.get_data(path), path, "exec", dont_inherit=True)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__dict__["__builtins__"] = self.package.builtins
        super().exec_module(module)


class _AppFinder(MetaPathFinder):
    """Finds submodules of app packages; declines every other name."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
                  ) -> ModuleSpec | None:
        top, dot, _ = fullname.partition(".")
        package = _packages.get(top)
        if package is None or not dot:
            return None
        spec = PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, SourceFileLoader) or spec.origin is None:
            return spec  # namespace folders, extension modules
        return spec_from_file_location(
            fullname, spec.origin, loader=_AppSourceLoader(fullname, spec.origin, package),
            submodule_search_locations=spec.submodule_search_locations,
        )


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)[:40] or "app"


class AppPackage:
    """One load generation of one app's modules under a private package name."""

    def __init__(self, app_name: str, root: Path) -> None:
        ensure_import_hooks()
        self.root = root.resolve()
        self.name = f"_cfapp_{_slug(app_name)}_{next(_counter)}"
        self.top_names = self._scan_top_names()
        self.app_name = app_name
        # Installed for other apps only (module → who declared it); read at each load, so a
        # reload sees the set the emulator runs with now.
        self.hidden = hidden_modules(app_name)
        self.builtins: dict[str, Any] = dict(builtins.__dict__)
        self.builtins["__import__"] = self._import
        module = types.ModuleType(self.name, f"app package of {app_name} ({self.root})")
        module.__path__ = [str(self.root)]
        module.__spec__ = ModuleSpec(self.name, None, is_package=True)
        module.__spec__.submodule_search_locations = [str(self.root)]
        module.__package__ = self.name
        _packages[self.name] = self
        sys.modules[self.name] = module

    def _scan_top_names(self) -> set[str]:
        names: set[str] = set()
        if not self.root.is_dir():
            return names
        for entry in self.root.iterdir():
            if entry.suffix == ".py" and entry.is_file():
                names.add(entry.stem)
            elif entry.is_dir() and entry.name.isidentifier() and entry.name != "__pycache__":
                names.add(entry.name)
        return names

    def _import(self, name: str, globals: Any = None, locals: Any = None, fromlist: Any = (),
                level: int = 0) -> types.ModuleType:
        if level == 0 and name:
            top = name.partition(".")[0]
            if top in self.top_names:
                module = builtins.__import__(f"{self.name}.{name}", globals, locals, fromlist, 0)
                return module if fromlist else sys.modules[f"{self.name}.{top}"]
            if top in self.hidden:
                raise ModuleNotFoundError(
                    f"No module named '{top}' ({top} is installed for {self.hidden[top]}, not for "
                    f"{self.app_name!r}: add the package to [project] dependencies in this app's "
                    "pyproject.toml)", name=top)
        return builtins.__import__(name, globals, locals, fromlist, level)

    def _package_for(self, folder: Path) -> str:
        """The package name of a folder inside the import root, created on first use.

        Folders without ``__init__.py`` get a synthetic package rather than a namespace
        package: ``functions/api.py`` and ``functions/api/`` commonly sit side by side
        (Pages routing), and a namespace lookup would pick the file.
        """
        name = self.name
        current = self.root
        for part in folder.relative_to(self.root).parts:
            if "." in part:
                raise AppLoadError(f"cannot import from {folder}: folder names must not contain dots")
            current = current / part
            name = f"{name}.{part}"
            if name in sys.modules:
                continue
            if (current / "__init__.py").is_file():
                importlib.import_module(name)
                continue
            module = types.ModuleType(name)
            module.__path__ = [str(current)]
            module.__spec__ = ModuleSpec(name, None, is_package=True)
            module.__spec__.submodule_search_locations = [str(current)]
            module.__package__ = name
            sys.modules[name] = module
        return name

    def import_file(self, path: Path) -> types.ModuleType:
        """Import a source file of the app; ``AppLoadError`` with the app's traceback."""
        path = path.resolve()
        try:
            package = self._package_for(path.parent)
            leaf = path.stem
            if "." in leaf:
                raise AppLoadError(f"cannot import {path}: file names must not contain dots besides .py")
            if (path.parent / leaf).is_dir():
                leaf += "__module"  # a sibling folder of the same name owns the plain name
            name = f"{package}.{leaf}"
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
        except BaseException as exc:  # noqa: BLE001 - SystemExit etc. from an app's top level too
            raise AppLoadError(
                f"failed to load {path}: {type(exc).__name__}: {exc}", app_traceback(exc)
            ) from exc

    def unload(self) -> None:
        """Forget this generation's modules (objects still referenced keep working)."""
        prefix = self.name + "."
        for key in [k for k in sys.modules if k == self.name or k.startswith(prefix)]:
            del sys.modules[key]
        _packages.pop(self.name, None)


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
