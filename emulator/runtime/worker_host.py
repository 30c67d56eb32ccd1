"""Hosting a Python Worker: ``main = "src/entry.py"`` with ``class Default(WorkerEntrypoint)``.

Per event, like workerd: a fresh ``Default(ctx, env)`` instance, its ``fetch`` / ``queue``
/ ``scheduled`` method called through ``relaxed_call`` with ``(arg, env, ctx)``. Static
assets (``[assets]``) are answered before the Worker when a file matches (Cloudflare's
default; ``run_worker_first = true`` or route patterns send requests to the Worker first) and
are reachable as ``env.<binding>.fetch``.

Module-level handlers (``async def on_fetch(request, env)``, ``on_queue``,
``on_scheduled``) are the legacy style: production only runs them for compatibility dates
before 2025-08-14 or with ``disable_python_no_global_handlers`` (workerd's
``python_no_global_handlers`` flag, docs/python-workers.md, "Handlers"), and so do we.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emulator.config.model import AppConfig
from emulator.runtime.aiohttp_adapter import request_pathname
from emulator.runtime.assets import WorkersAssetServer
from emulator.runtime.entrypoints import ScheduledController, WorkerEntrypoint
from emulator.runtime.host import BaseHost, as_response
from emulator.runtime.http import Request, Response
from emulator.runtime.invocation import ExecutionContext, invoke
from emulator.runtime.library_state import LibraryState
from emulator.runtime.loader import AppLoadError, AppPackage
from emulator.runtime.routes_json import WorkerFirstRules

if TYPE_CHECKING:
    from emulator.platform import Env, Platform

PYTHON_WORKERS_FLAG = "python_workers"
# workerd's pythonNoGlobalHandlers: on by default from this date; flags switch it either way.
NO_GLOBAL_HANDLERS_FLAG = "python_no_global_handlers"
GLOBAL_HANDLERS_FLAG = "disable_python_no_global_handlers"
NO_GLOBAL_HANDLERS_DATE = "2025-08-14"
MODULE_HANDLERS = ("on_fetch", "on_queue", "on_scheduled")


def uses_global_handlers(config: AppConfig) -> bool:
    """Whether production runs this Worker's module-level ``on_fetch`` & co. (legacy mode)."""
    if config.has_flag(NO_GLOBAL_HANDLERS_FLAG):
        return False
    if config.has_flag(GLOBAL_HANDLERS_FLAG):
        return True
    date = config.compatibility_date
    return date is not None and date < NO_GLOBAL_HANDLERS_DATE


@dataclass
class LoadedEntrypoints:
    """One successfully imported version of a Python module holding entrypoint classes."""

    package: AppPackage
    module: types.ModuleType
    env: Env
    default: type | None
    # Legacy mode: the module-level handlers (`on_fetch`, ...) by name.
    module_handlers: dict[str, Any] | None = None
    # Legacy mode: class methods are `on_fetch` & co. (we also accept `fetch`).
    legacy: bool = False
    # method_name's answers, per (class, handler): asked on every request in legacy mode.
    _method_names: dict[tuple[type, str], str] = field(default_factory=dict)

    def method_name(self, cls: type, name: str) -> str:
        """``on_<name>`` in legacy mode when the class defines it, else ``name``."""
        key = (cls, name)
        found = self._method_names.get(key)
        if found is None:
            legacy_name = f"on_{name}"
            found = legacy_name if self.legacy and callable(getattr(cls, legacy_name, None)) else name
            self._method_names[key] = found
        return found

    def entry(self, name: str | None) -> type:
        if name in (None, "default", "Default"):
            if self.default is None:
                raise LookupError(f"{self.module.__file__} defines no `class Default(WorkerEntrypoint)`")
            return self.default
        cls = getattr(self.module, name, None)
        if not isinstance(cls, type):
            raise LookupError(f"{self.module.__file__} defines no class named {name!r}")
        return cls


def worker_main(config: AppConfig) -> Path | None:
    """The Worker's main module as a path (``main`` is relative to the config's folder)."""
    main = config.main
    if main is None:
        return None
    return main if main.is_absolute() else (config.root / main)


def import_entrypoints(host: BaseHost, main: Path, env: Env) -> LoadedEntrypoints:
    """Import ``main`` in a fresh app generation and find its ``Default`` class.

    The generation is committed (it owns the app's plain module names from now on) when
    this returns; on an error it is unloaded and the previous generation serves on.
    """
    if not main.is_file():
        raise AppLoadError(f"{host.config.name}: the main module {main} does not exist")
    before = LibraryState.capture()
    package = host.new_package(main.parent, {main.stem})
    try:
        # Top-level code may use `workers.env` and print(): run it as the app.
        with invoke(host, env, ExecutionContext(host)):
            module = package.import_file(main)
        default = getattr(module, "Default", None)
        legacy = uses_global_handlers(host.config)
        handlers = {name: fn for name in MODULE_HANDLERS if callable(fn := getattr(module, name, None))}
        if default is None and handlers and not legacy:
            date = host.config.compatibility_date
            raise AppLoadError(
                f"{main} defines a module-level `{next(iter(handlers))}`, which production ignores with "
                f"compatibility_date {date} (module-level handlers are disabled from {NO_GLOBAL_HANDLERS_DATE}: "
                f"flag `{NO_GLOBAL_HANDLERS_FLAG}`). Move the handler into `class Default(WorkerEntrypoint)` as "
                f"`async def fetch(self, request)` (self.env, self.ctx), or keep the old style with the "
                f"compatibility flag `{GLOBAL_HANDLERS_FLAG}`."
            )
        if default is not None and not (isinstance(default, type) and issubclass(default, WorkerEntrypoint)):
            raise AppLoadError(f"{main}: `Default` must be a class deriving from workers.WorkerEntrypoint")
    except BaseException:
        package.unload()
        host.report_generation(package, before)
        raise
    package.commit()
    host.report_generation(package, before)
    loaded = LoadedEntrypoints(package, module, env, default, handlers if legacy and default is None else None,
                               legacy)
    if host.platform.strict_runtime:
        _strict_checks(host, main, loaded)
    return loaded


def _strict_checks(host: BaseHost, main: Path, loaded: LoadedEntrypoints) -> None:
    """What ``--strict-runtime`` reports at load: imports production lacks, handler names."""
    from emulator.runtime.strict import app_sources, report_findings, scan_imports

    report_findings(host, scan_imports(app_sources(main.parent), host.config.root))
    cls = loaded.default
    if loaded.legacy and cls is not None:
        for name in ("fetch", "queue", "scheduled"):
            if callable(getattr(cls, name, None)) and not callable(getattr(cls, f"on_{name}", None)):
                host.platform.log.warn(
                    host.log_source,
                    f"--strict-runtime: compatibility_date {host.config.compatibility_date} runs this Worker in "
                    f"production's legacy handler mode (before {NO_GLOBAL_HANDLERS_DATE}), where workerd calls "
                    f"`Default.on_{name}`, not `Default.{name}`: set compatibility_date to "
                    f"{NO_GLOBAL_HANDLERS_DATE} or later (or add the `{NO_GLOBAL_HANDLERS_FLAG}` flag).")


class WorkerHost(BaseHost):
    def __init__(self, config: AppConfig, platform: Platform) -> None:
        super().__init__(config, platform)
        self._loaded: LoadedEntrypoints | None = None
        self.assets: WorkersAssetServer | None = None
        # assets.run_worker_first: patterns decide per path (routes_json.WorkerFirstRules);
        # True is the pattern matching every path; False (or no patterns) keeps assets first.
        rwf = config.assets.run_worker_first if config.assets is not None else False
        patterns = ("/*",) if rwf is True else rwf or ()
        self._worker_first = WorkerFirstRules(patterns) if patterns else None
        if config.assets is not None and config.assets.directory is not None:
            self.assets = WorkersAssetServer(
                config.assets.directory, self._report_asset_issue,
                config.assets.html_handling, config.assets.not_found_handling,
            )

    def _report_asset_issue(self, message: str) -> None:
        self.platform.log.warn(self.log_source, message)

    @property
    def main(self) -> Path:
        main = worker_main(self.config)
        if main is None:
            raise AppLoadError(f"{self.config.name}: a Worker needs `main` (the Python entry module)")
        return main

    def _import(self) -> LoadedEntrypoints:
        if not self.config.has_flag(PYTHON_WORKERS_FLAG):
            raise AppLoadError(
                f"{self.config.name}: Python Workers need the `{PYTHON_WORKERS_FLAG}` compatibility flag "
                f'(add compatibility_flags = ["{PYTHON_WORKERS_FLAG}"] to {self.config.config_path.name})'
            )
        main = self.main
        if main.suffix != ".py":
            raise AppLoadError(f"{self.config.name}: main must be a Python file (.py), got {main.name}")
        env = self.build_env(self.assets, self.config.assets.binding if self.config.assets else None)
        return import_entrypoints(self, main, env)

    def load(self) -> None:
        self._loaded = self._import()
        self.env = self._loaded.env

    def reload(self) -> None:
        fresh = self._import()  # raises AppLoadError and leaves the last good version serving
        old, self._loaded = self._loaded, fresh
        self.env = fresh.env
        if old is not None:
            old.package.unload()

    def unload(self) -> None:
        """Forget the app's modules (when a config change replaces this host with a new one)."""
        if self._loaded is not None:
            self._loaded.package.unload()
            self._loaded = None

    def _require_loaded(self) -> LoadedEntrypoints:
        if self._loaded is None:
            raise RuntimeError(f"{self.config.name} is not loaded (call load() first)")
        return self._loaded

    def watch_paths(self) -> list[Path]:
        root = self.config.root
        paths: list[Path] = [self.config.config_path]
        code_dir = self.main.parent
        if code_dir.resolve() == root.resolve():
            # Never watch the whole project folder: the state directory usually lives there.
            paths += sorted(p for p in root.glob("*.py"))
            paths += sorted(d for d in root.iterdir()
                            if d.is_dir() and d.name.isidentifier() and any(d.rglob("*.py")))
        else:
            paths.append(code_dir)
        paths += [root / n for n in (".dev.vars", ".env", ".env.local")]
        if self.config.env_name:
            paths += [root / f".dev.vars.{self.config.env_name}", root / f".env.{self.config.env_name}"]
        if self.config.assets is not None and self.config.assets.directory is not None:
            paths.append(self.config.assets.directory)
        return [p for p in dict.fromkeys(paths) if p.exists()]

    # -- events -------------------------------------------------------------------------
    async def dispatch(self, request: Request, entrypoint: str | None = None) -> Response:
        loaded = self._require_loaded()
        if self.assets is not None and entrypoint is None:
            order = self._worker_first.decide(request_pathname(request)) if self._worker_first else None
            if order is None:
                hit = await self.assets.match(request)
                if hit is not None:
                    return hit
            elif order == WorkerFirstRules.ASSETS:
                return await self.assets.fetch(request)
        if loaded.module_handlers is not None and entrypoint is None:
            return await self._dispatch_module(loaded, request)
        try:
            # The default entrypoint without a call (what nearly every request asks for).
            cls = loaded.default if entrypoint is None and loaded.default is not None else loaded.entry(entrypoint)
        except LookupError as exc:
            if self.assets is not None:
                return await self.assets.fetch(request)
            return self.error_response(exc)
        method = "fetch" if not loaded.legacy else loaded.method_name(cls, "fetch")
        if not callable(getattr(cls, method, None)):
            if self.assets is not None:
                return await self.assets.fetch(request)
            return self.error_response(RuntimeError("Handler does not export a fetch() function."))
        ctx = ExecutionContext(self)
        env = loaded.env
        try:
            instance = cls(ctx, env)
            result = await self.call_app(getattr(instance, method), request, env, ctx, ctx=ctx, env=env)
        except Exception as exc:  # noqa: BLE001 - app code
            return self.error_response(exc)
        if type(result) is Response:
            return result
        response = as_response(result)
        if response is None:
            return self.error_response(TypeError(
                f"fetch() must return a workers.Response, got {type(result).__name__}"))
        return response

    async def _dispatch_module(self, loaded: LoadedEntrypoints, request: Request) -> Response:
        """Legacy mode: the module-level ``on_fetch(request, env, ctx)``."""
        assert loaded.module_handlers is not None
        handler = loaded.module_handlers.get("on_fetch")
        if handler is None:
            if self.assets is not None:
                return await self.assets.fetch(request)
            return self.error_response(RuntimeError(
                f'Python entrypoint "{self.main.name}" does not export a handler named "on_fetch"'))
        ctx = ExecutionContext(self)
        try:
            result = await self.call_app(handler, request, loaded.env, ctx, ctx=ctx, env=loaded.env)
        except Exception as exc:  # noqa: BLE001 - app code
            return self.error_response(exc)
        response = as_response(result)
        if response is None:
            return self.error_response(TypeError(
                f"on_fetch() must return a Response, got {type(result).__name__}"))
        return response

    def _handler(self, loaded: LoadedEntrypoints, name: str) -> tuple[Any, ExecutionContext]:
        if loaded.module_handlers is not None and f"on_{name}" in loaded.module_handlers:
            return loaded.module_handlers[f"on_{name}"], ExecutionContext(self)
        cls = loaded.default
        if cls is not None and loaded.legacy:
            name = loaded.method_name(cls, name)
        method = getattr(cls, name, None) if cls is not None else None
        if not callable(method):
            raise RuntimeError(
                f"{self.config.name} has no {name} handler: define `async def {name}(self, "
                f"{'batch' if name == 'queue' else 'controller'})` on class Default in {self.main.name}"
            )
        assert cls is not None
        ctx = ExecutionContext(self)
        return getattr(cls(ctx, loaded.env), name), ctx

    async def queue(self, batch: Any) -> None:
        loaded = self._require_loaded()
        try:
            fn, ctx = self._handler(loaded, "queue")
            await self.call_app(fn, batch, loaded.env, ctx, ctx=ctx, env=loaded.env)
        except Exception as exc:
            self.error_response(exc, "queue")
            raise

    async def scheduled(self, cron: str, scheduled_time_ms: int) -> None:
        loaded = self._require_loaded()
        try:
            fn, ctx = self._handler(loaded, "scheduled")
            controller = ScheduledController(cron, scheduled_time_ms)
            await self.call_app(fn, controller, loaded.env, ctx, ctx=ctx, env=loaded.env)
        except Exception as exc:
            self.error_response(exc, "scheduled")
            raise

    def entrypoint_class(self, name: str) -> type:
        return self._require_loaded().entry(name)

    async def call_rpc(self, entrypoint: str | None, method: str, args: tuple[Any, ...],
                       kwargs: dict[str, Any]) -> Any:
        loaded = self._require_loaded()
        cls = loaded.entry(entrypoint)
        if method.startswith("_") or method in ("fetch", "queue", "scheduled"):
            raise AttributeError(f"{cls.__name__}.{method} cannot be called over RPC")
        ctx = ExecutionContext(self)
        fn = getattr(cls(ctx, loaded.env), method, None)
        if not callable(fn):
            raise AttributeError(f"{cls.__name__} of {self.config.name} has no method {method!r}")
        with invoke(self, loaded.env, ctx):
            result = fn(*args, **kwargs)
            if hasattr(result, "__await__"):
                result = await result
        return result
