"""Hosting a Pages project: static assets, Python Pages Functions, or advanced mode.

Three modes, picked as Pages picks them (docs/hosting.md, "Pages apps"):

- **advanced**: ``_worker.py`` in the output directory (``class Default(WorkerEntrypoint)``);
  it replaces ``functions/`` entirely and reaches the static files as ``env.ASSETS``;
- **functions**: Python files under ``<project root>/functions/`` (see ``pages_routing``);
  a request runs the matching middleware (outermost first) and the first matching route's
  handlers; when the chain is exhausted ``next()`` falls back to the static assets;
- **static**: only the asset server.

``_routes.json`` in the output directory decides, in the first two modes, which paths
reach the code at all (docs/hosting.md, "_routes.json"); everything else goes straight to the asset server.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from emulator.config.model import AppConfig
from emulator.jsobject import JsObject
from emulator.runtime.aiohttp_adapter import request_pathname
from emulator.runtime.assets import PagesAssetServer
from emulator.runtime.host import BaseHost, as_response
from emulator.runtime.http import Request, Response, resolve_url
from emulator.runtime.invocation import ExecutionContext, invoke
from emulator.runtime.library_state import LibraryState
from emulator.runtime.loader import AppLoadError, AppPackage
from emulator.runtime.pages_routing import FunctionsRouter, Step, fresh_params, route_names
from emulator.runtime.routes_json import RoutesConfig, RoutesJsonError, load_routes
from emulator.runtime.worker_host import LoadedEntrypoints, import_entrypoints

if TYPE_CHECKING:
    from emulator.platform import Env, Platform

NOT_A_RESPONSE = "Your Pages function should return a Response"


class EventContext:
    """The ``context`` argument of a Pages Function."""

    def __init__(self, chain: _Chain, index: int, request: Request, step: Step) -> None:
        self._chain = chain
        self._index = index
        self._step = step
        self.request = request
        self.function_path = step.path
        self.functionPath = step.path
        self.env = chain.env

    @property
    def params(self) -> Any:
        # The request's own copy of the route's params, made when first read (a hello
        # world never reads it): handlers of one route share it, as on Cloudflare.
        d = self.__dict__
        if "_params" in d:  # read or assigned before (even None)
            return d["_params"]
        step = self._step
        params = d["_params"] = self._chain.params(step.group, step.params)
        return params

    @params.setter
    def params(self, value: Any) -> None:
        self.__dict__["_params"] = value

    @property
    def data(self) -> Any:
        chain = self._chain
        data = chain.data
        if data is None:  # made on first use: most handlers never touch it
            data = chain.data = JsObject()
        return data

    @data.setter
    def data(self, value: Any) -> None:
        if not isinstance(value, dict):
            raise TypeError("context.data must be an object")
        self._chain.data = value

    async def next(self, input: Any = None, init: dict[str, Any] | None = None, **kwargs: Any) -> Response:
        """Run the rest of the chain, optionally with another request or URL."""
        request = self.request
        if input is not None:
            options = {**(init or {}), **kwargs}
            if isinstance(input, Request):
                request = Request(input, **options) if options else input
            else:
                request = Request(resolve_url(str(input), self.request.url), **options)
        return await self._chain.run(self._index + 1, request)

    def wait_until(self, awaitable: Any) -> None:
        self._chain.ctx.waitUntil(awaitable)

    waitUntil = wait_until  # noqa: N815 - Cloudflare spelling

    def pass_through_on_exception(self) -> None:
        self._chain.ctx.passThroughOnException()

    passThroughOnException = pass_through_on_exception  # noqa: N815 - Cloudflare spelling

    def __getitem__(self, name: str) -> Any:
        # `context["request"]` reads like the JS destructuring some ports use.
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(name) from None


class _Chain:
    """The handlers one request runs, and what they share (``data``, ``env``, ``ctx``)."""

    __slots__ = ("host", "steps", "env", "ctx", "data", "_params")

    def __init__(self, host: PagesHost, steps: tuple[Step, ...], env: Any, ctx: ExecutionContext) -> None:
        self.host = host
        self.steps = steps
        self.env = env
        self.ctx = ctx
        # `context.data`, shared by every step; a JsObject is made on first use.
        self.data: Any = None
        # This request's params, by route (`Step.group`); made as handlers read them.
        self._params: dict[int, JsObject] | None = None

    def params(self, group: int, template: JsObject) -> JsObject:
        """The params of route ``group`` for this request (its own copy of ``template``)."""
        made = self._params
        if made is None:
            made = self._params = {}
        params = made.get(group)
        if params is None:
            params = made[group] = fresh_params(template)
        return params

    def call(self, index: int, request: Request) -> Any:
        """Start step ``index``: its handler's result, possibly still to be awaited."""
        step = self.steps[index]
        # What relaxed_call(step.handler, context) does, decided when the chain was matched.
        if step.takes_context:
            return step.handler(EventContext(self, index, request, step))
        return step.handler()

    async def run(self, index: int, request: Request) -> Response:
        if index >= len(self.steps):
            return await self.host.assets.fetch(request)
        result = self.call(index, request)
        if inspect.isawaitable(result):
            result = await result
        if not isinstance(result, Response):
            raise TypeError(NOT_A_RESPONSE)
        return result


Mode = Literal["static", "functions", "advanced"]


@dataclass
class _Generation:
    mode: Mode
    env: Env
    routes: RoutesConfig
    router: FunctionsRouter | None = None
    package: AppPackage | None = None
    worker: LoadedEntrypoints | None = None

    def unload(self) -> None:
        if self.package is not None:
            self.package.unload()
        if self.worker is not None:
            self.worker.package.unload()


def pages_import_root(config: AppConfig) -> Path | None:
    """Where a Pages project's Python is imported from: the output directory when it holds
    ``_worker.py`` (advanced mode), else ``functions/``; None for a static-only project."""
    out = config.pages_build_output_dir
    if out is None:
        return None
    out = out if out.is_absolute() else config.root / out
    if (out / "_worker.py").is_file():
        return out
    functions = config.root / "functions"
    return functions if functions.is_dir() else None


class PagesHost(BaseHost):
    def __init__(self, config: AppConfig, platform: Platform) -> None:
        super().__init__(config, platform)
        out = config.pages_build_output_dir
        if out is None:
            raise AppLoadError(f"{config.name}: a Pages project needs pages_build_output_dir")
        self.output_dir = out if out.is_absolute() else config.root / out
        self.functions_dir = config.root / "functions"
        self.assets = PagesAssetServer(self.output_dir, self._report_asset_issue)
        self._gen: _Generation | None = None

    def _report_asset_issue(self, message: str) -> None:
        self.platform.log.warn(self.log_source, message)

    def _routes(self, first_load: bool) -> RoutesConfig:
        path = self.output_dir / "_routes.json"
        if not path.is_file():
            return RoutesConfig()
        try:
            return load_routes(path)
        except RoutesJsonError as exc:
            if first_load:
                raise AppLoadError(f"Could not validate _routes.json at {self.output_dir}: {exc}") from exc
            # wrangler pages dev: a later bad edit falls back to the default routes.
            self.platform.log.error(self.log_source, str(exc))
            self.platform.log.warn(self.log_source, "Ignoring provided _routes.json file, and falling back "
                                   'to the following default routes configuration:\n{"version":1,'
                                   '"include":["/*"],"exclude":[]}')
            return RoutesConfig()

    def _import(self, first_load: bool) -> _Generation:
        if not self.output_dir.is_dir():
            raise AppLoadError(f"{self.config.name}: pages_build_output_dir {self.output_dir} is not a directory")
        env = self.build_env(self.assets, "ASSETS")
        worker_file = self.output_dir / "_worker.py"
        if worker_file.is_file():
            routes = self._routes(first_load)
            return _Generation("advanced", env, routes, worker=import_entrypoints(self, worker_file, env))
        if self.functions_dir.is_dir():
            routes = self._routes(first_load)
            before = LibraryState.capture()
            package = self.new_package(self.functions_dir, route_names(self.functions_dir))
            try:
                with invoke(self, env, ExecutionContext(self)):
                    router = FunctionsRouter.scan(self.functions_dir, package)
            except BaseException:
                package.unload()
                self.report_generation(package, before)
                raise
            package.commit()
            self.report_generation(package, before)
            return _Generation("functions", env, routes, router=router, package=package)
        return _Generation("static", env, RoutesConfig())

    @property
    def mode(self) -> Mode:
        return self._require().mode

    def load(self) -> None:
        self._gen = self._import(first_load=True)
        self.env = self._gen.env

    def reload(self) -> None:
        fresh = self._import(first_load=self._gen is None)
        old, self._gen = self._gen, fresh
        self.env = fresh.env
        if old is not None:
            old.unload()

    def unload(self) -> None:
        """Forget the app's modules (when a config change replaces this host with a new one)."""
        if self._gen is not None:
            self._gen.unload()
            self._gen = None

    def _require(self) -> _Generation:
        if self._gen is None:
            raise RuntimeError(f"{self.config.name} is not loaded (call load() first)")
        return self._gen

    def watch_paths(self) -> list[Path]:
        root = self.config.root
        paths = [self.config.config_path, self.functions_dir, self.output_dir]
        paths += [root / n for n in (".dev.vars", ".env", ".env.local")]
        if self.config.env_name:
            paths += [root / f".dev.vars.{self.config.env_name}", root / f".env.{self.config.env_name}"]
        return [p for p in dict.fromkeys(paths) if p.exists()]

    async def dispatch(self, request: Request, entrypoint: str | None = None) -> Response:
        gen = self._gen
        if gen is None:
            gen = self._require()  # raises the "not loaded" error
        if gen.mode == "static":
            return await self.assets.fetch(request)
        pathname = request_pathname(request) or "/"
        if not gen.routes.is_function_route(pathname):
            return await self.assets.fetch(request)
        if gen.mode == "advanced":
            return await self._advanced(gen, request)
        assert gen.router is not None
        steps = gen.router.chain(str(request.method), pathname)
        if not steps:
            return await self.assets.fetch(request)
        ctx = ExecutionContext(self)
        chain = _Chain(self, steps, gen.env, ctx)
        try:
            with invoke(self, gen.env, ctx):
                return await chain.run(0, request)
        except Exception as exc:  # noqa: BLE001 - app code
            if ctx.pass_through:
                self.platform.log.warn(self.log_source, f"passThroughOnException: serving assets after "
                                       f"{type(exc).__name__}: {exc}")
                return await self.assets.fetch(request)
            return self.error_response(exc, "Pages function")

    async def _advanced(self, gen: _Generation, request: Request) -> Response:
        assert gen.worker is not None
        try:
            cls = gen.worker.entry(None)
        except LookupError as exc:
            return self.error_response(exc)
        ctx = ExecutionContext(self)
        try:
            instance = cls(ctx, gen.env)
            result = await self.call_app(instance.fetch, request, gen.env, ctx, ctx=ctx, env=gen.env)
        except Exception as exc:  # noqa: BLE001 - app code
            if ctx.pass_through:
                return await self.assets.fetch(request)
            return self.error_response(exc)
        response = as_response(result)
        if response is None:
            return self.error_response(TypeError(
                f"fetch() must return a workers.Response, got {type(result).__name__}"))
        return response
