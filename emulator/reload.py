"""Hot reload for `cf-emulator dev`: watch each app's files and reload only that app.

Watching uses ``watchfiles.awatch`` on every host's ``watch_paths()`` (plus the config
file and its ``.dev.vars`` / ``.env``). A change to an app's Python files re-imports the
app (``host.reload()``); a change to its config re-runs ``check`` on that config and, when
it is valid, swaps in a new host built from it. Bindings live in the platform's plugins,
not in the host, so queue, R2, D1 and workflow state survives every reload. On a syntax
error or a config error the last good version keeps serving and the log shows why.

The app's ``pyproject.toml`` is watched too: changed ``[project] dependencies`` are not
installed into the running process (one interpreter: packages already imported cannot be
swapped safely), so the log says to restart, as pywrangler's ``dev`` syncs only at start.
"""

from __future__ import annotations

import asyncio
import importlib
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from collections.abc import Iterable

from emulator.config.model import AppConfig

if TYPE_CHECKING:
    from emulator.platform import Platform

# Files next to a config that change what the app sees (wrangler re-reads them too).
_CONFIG_SIDE_FILES = (".dev.vars", ".env")
# Editor and tool droppings that must not trigger reloads (`python_modules` and
# `.venv-workers` are what `pywrangler sync` rewrites: thousands of files the emulator never imports).
_IGNORED_PARTS = {"__pycache__", ".git", ".emulator", "node_modules", ".venv", ".pytest_cache",
                  "python_modules", ".venv-workers"}
_PYPROJECT = "pyproject.toml"
_IGNORED_SUFFIXES = (".pyc", ".pyo", ".swp", ".swx", "~", ".tmp")


class RunningEmulator(Protocol):
    """What the reloader needs of the emulator it serves (``emulator.emulator.Emulator``).

    A protocol, so this module does not import the emulator that starts it.
    """

    env: str | None  # the wrangler environment the configs are read with
    crons: Any  # the cron scheduler, None when crons do not run

    @property
    def platform(self) -> Platform: ...

    def with_overrides(self, app: AppConfig) -> AppConfig:
        """The app as hosted (a reloaded config gets this run's ``--var`` values)."""
        ...

    def declared_requirements(self, app_name: str) -> list[Any]:
        """The requirements the running set of packages was installed for."""
        ...

    def register_crons(self, app: AppConfig) -> None:
        """(Re-)arm an app's cron triggers."""
        ...


def _is_config_file(app: AppConfig, path: Path) -> bool:
    if path == app.config_path:
        return True
    return path.parent == app.root and (path.name in _CONFIG_SIDE_FILES or path.name.startswith(".dev.vars."))


def _ignored(path: Path) -> bool:
    return bool(_IGNORED_PARTS.intersection(path.parts)) or path.name.endswith(_IGNORED_SUFFIXES)


class AppReloader:
    """Maps file changes to apps and reloads them, keeping the last good version on errors."""

    def __init__(self, emulator: RunningEmulator, debounce_ms: int = 100) -> None:
        self.emulator = emulator
        self.debounce_ms = debounce_ms
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.ready = asyncio.Event()
        # Generation counter per app, so tests and the dashboard can see that a reload happened.
        self.reloads: dict[str, int] = {}

    # --- which app owns a path --------------------------------------------------------
    def watch_roots(self) -> dict[str, list[Path]]:
        roots: dict[str, list[Path]] = {}
        platform = self.emulator.platform
        for app in platform.apps:
            host = platform.hosts.get(app.name)
            paths = [Path(p).resolve() for p in (host.watch_paths() if host is not None else [])]  # type: ignore[attr-defined]  # the runtime's hosts (BaseHost); AppHost is the plugins' view
            paths.append(app.config_path)
            paths.extend(app.root / name for name in _CONFIG_SIDE_FILES)
            paths.append(app.root / _PYPROJECT)
            roots[app.name] = paths
        return roots

    def apps_for(self, changed: Iterable[Path]) -> dict[str, set[Path]]:
        """App name → the changed paths that belong to it."""
        out: dict[str, set[Path]] = {}
        roots = self.watch_roots()
        for raw in changed:
            path = Path(raw).resolve()
            if _ignored(path):
                continue
            for name, paths in roots.items():
                if any(path == p or p in path.parents for p in paths):
                    out.setdefault(name, set()).add(path)
        return out

    # --- reloading ----------------------------------------------------------------------
    async def handle_changes(self, changed: Iterable[Path]) -> dict[str, bool]:
        """Reload every app touched by ``changed``; app name → whether the reload succeeded."""
        results: dict[str, bool] = {}
        for name, paths in self.apps_for(changed).items():
            results[name] = self.reload_app(name, paths)
        return results

    def reload_app(self, name: str, changed: set[Path]) -> bool:
        platform = self.emulator.platform
        app = platform.app(name)
        pyproject = app.root / _PYPROJECT
        if pyproject in changed:
            self._dependencies_changed(app)
            changed = changed - {pyproject}
            if not changed:
                return True
        shown = ", ".join(sorted(str(p.relative_to(app.root)) if app.root in p.parents else str(p) for p in changed))
        if any(_is_config_file(app, p) for p in changed):
            ok = self._reload_config(app)
        else:
            ok = self._reload_code(app)
        if ok:
            self.reloads[name] = self.reloads.get(name, 0) + 1
            platform.log.info("dev", f"[{name}] reloaded ({shown})", app=name, changed=sorted(map(str, changed)))
        return ok

    def _dependencies_changed(self, app: AppConfig) -> None:
        """Say so when the app's declared dependencies no longer match the running set."""
        from emulator.runtime.dependencies import DependencyError, read_app_requirements

        log = self.emulator.platform.log
        try:
            project = read_app_requirements(app.name, app.root)
        except DependencyError as exc:
            log.error("dev", f"[{app.name}] {exc}", app=app.name)
            return
        now = sorted(str(r) for r in project.requirements) if project is not None else []
        running = sorted(str(r) for r in self.emulator.declared_requirements(app.name))
        if now != running:
            log.warn("dev", f"[{app.name}] [project] dependencies in {_PYPROJECT} changed; they take effect after "
                            "a restart of `cf-emulator dev` (run `cf-emulator sync` meanwhile to install them "
                            "while this keeps serving).", app=app.name)

    def _reload_code(self, app: AppConfig) -> bool:
        from emulator.runtime import AppLoadError

        host = self.emulator.platform.hosts[app.name]
        try:
            host.reload()  # type: ignore[attr-defined]  # the runtime's hosts (BaseHost); AppHost is the plugins' view
        except AppLoadError as exc:
            self.emulator.platform.log.error(
                f"app:{app.name}",
                f"reload failed; the last good version keeps serving.\n{exc.with_traceback_text()}", app=app.name)
            return False
        return True

    def _reload_config(self, app: AppConfig) -> bool:
        from emulator.config import check_paths
        from emulator.config.render import render_for_dev
        from emulator.runtime import AppLoadError, create_host

        platform = self.emulator.platform
        log = platform.log
        try:
            report = check_paths([app.config_path], self.emulator.env, command="dev")
        except Exception:  # noqa: BLE001 - a broken config file may raise anything; the running version stays
            log.error("dev", f"[{app.name}] could not re-read {app.config_path}; keeping the running version.\n"
                             f"{traceback.format_exc()}", app=app.name)
            return False
        if not report.ok or len(report.apps) != 1:
            log.error("dev", f"[{app.name}] config has errors; the last good version keeps serving.\n"
                             f"{render_for_dev(report)}", app=app.name)
            return False
        new_config: AppConfig = self.emulator.with_overrides(report.apps[0])
        if new_config.name != app.name or new_config.kind != app.kind:
            log.error("dev", f"[{app.name}] renaming an app or switching Worker/Pages needs a restart of "
                             "`cf-emulator dev`; keeping the running version.", app=app.name)
            return False
        host = create_host(new_config, platform)
        try:
            host.load()
        except AppLoadError as exc:
            log.error(f"app:{app.name}", f"reload failed; the last good version keeps serving.\n"
                                         f"{exc.with_traceback_text()}", app=app.name)
            return False
        from emulator.bindings import binding_types

        kinds = binding_types()
        missing = [k.name for k in kinds if k.name not in platform.plugins and k.used_by(new_config)]
        if missing:
            log.warn("dev", f"[{app.name}] new binding types ({', '.join(missing)}) take effect after a restart "
                            "of `cf-emulator dev`.", app=app.name)
        # Some engines register what a config declares once, at start (the broker's
        # consumers, the workflow engine's classes); the new code still receives the
        # batches and instances.
        changed = [what for k in kinds if (what := k.restart_needed(k.of(app), k.of(new_config)))]
        if changed:
            log.warn("dev", f"[{app.name}] changed {' or '.join(changed)} take effect after a restart "
                            "of `cf-emulator dev`.", app=app.name)
        old_host = platform.hosts.get(app.name)
        platform.apps[platform.apps.index(app)] = new_config
        platform.attach_host(host)
        if old_host is not None and old_host is not host:
            # Drop the replaced generation's modules from sys.modules (the new host's
            # generation took the plain module names over when it loaded, and its private
            # package has its own name, so its modules are untouched); objects that
            # in-flight requests still hold keep working.
            old_host.unload()  # type: ignore[attr-defined]  # the runtime's hosts (BaseHost); AppHost is the plugins' view
        if self.emulator.crons is not None:
            self.emulator.register_crons(new_config)
        return True

    # --- the watcher --------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - its failure was logged where it happened (_watch)
                pass
            self._task = None

    def _existing_roots(self) -> list[Path]:
        seen: set[Path] = set()
        for paths in self.watch_roots().values():
            for p in paths:
                # watchfiles needs existing paths; a missing `.dev.vars` is watched via its folder.
                target = p if p.exists() else p.parent
                if target.exists():
                    seen.add(target)
        # Watching a folder already covers files under it.
        return sorted(p for p in seen if not any(q in p.parents for q in seen))

    async def _watch(self) -> None:
        # Imported on a worker thread: the watcher starts right after `ready:`, and an import
        # on the loop (~0.1 s) would hold back the first requests (bench/startup.py).
        await asyncio.get_running_loop().run_in_executor(None, importlib.import_module, "watchfiles")
        from watchfiles import awatch

        log = self.emulator.platform.log
        while not self._stop.is_set():
            roots = self._existing_roots()
            try:
                watcher = awatch(*roots, stop_event=self._stop, debounce=self.debounce_ms, step=20,
                                 recursive=True)
                self.ready.set()
                async for changes in watcher:
                    paths = [Path(p) for _, p in changes]
                    await self.handle_changes(paths)
                    if set(self._existing_roots()) != set(roots):
                        break  # watch set changed (new config paths): restart the watcher
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a watcher failure must not take the server down
                log.error("dev", f"file watcher stopped: {exc!r}; restart `cf-emulator dev` to reload again")
                return
