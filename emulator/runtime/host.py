"""What Worker and Pages hosts share: env assembly, fetchers, background work, errors.

An app's ``env`` is ``platform.env_for(app)`` (every binding type's objects, vars, secrets)
plus what the runtime adds: the ``ASSETS`` fetcher of the app's own static files.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import traceback
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from collections.abc import Awaitable, Collection

from aiohttp import web

from emulator.config.model import AppConfig
from emulator.runtime.aiohttp_adapter import buffered_aiohttp_response, request_from_aiohttp, to_aiohttp_response
from emulator.runtime.body import (
    TOO_LARGE_HTML,
    TOO_LARGE_REASON,
    TOO_LARGE_STATUS,
    BodySource,
    RequestBodyTooLarge,
)
from emulator.runtime.http import FetchResponse, Request, Response, resolve_url
from emulator.runtime.invocation import ExecutionContext, guarded_background, invoke
from emulator.runtime.library_state import LibraryState
from emulator.runtime.loader import AppPackage, NameCollision, app_traceback, describe_collisions
from emulator.runtime.relaxed_call import relaxed_call

if TYPE_CHECKING:
    from emulator.platform import Env, Platform

# What `request.cf` holds locally (production fills it from the edge; these are stand-ins).
LOCAL_CF = {"colo": "LCL", "country": "XX", "httpProtocol": "HTTP/1.1", "asn": 0,
            "clientTcpRtt": 0, "tlsVersion": ""}
# Placeholder origin for relative URLs handed to fetchers (Cloudflare requires absolute ones).
FETCHER_BASE = "http://fake-host/"


def as_response(result: Any) -> Response | None:
    """A handler's result as a response: a ``Response`` (SDK or JS, the same class here) or
    anything whose ``js_object`` / ``js_response`` is one, as workerd accepts; else None."""
    if isinstance(result, FetchResponse):
        return result  # type: ignore[return-value]  # a fetch()ed response is returned as is, as workerd accepts
    inner = getattr(result, "js_object", None) or getattr(result, "js_response", None)
    return inner if isinstance(inner, FetchResponse) else None  # type: ignore[return-value]  # see above


class AssetSource(Protocol):
    async def fetch(self, request: Request) -> Response: ...


def as_request(input: Any, init: dict[str, Any]) -> Request:
    """``fetch(input, init)`` arguments as a ``Request``."""
    if isinstance(input, Request):
        return Request(input, **init) if init else input
    return Request(resolve_url(str(input), FETCHER_BASE), **init)


class AssetsFetcher:
    """``env.ASSETS``: ``await env.ASSETS.fetch(request_or_url)`` serves from the asset directory."""

    def __init__(self, source: AssetSource) -> None:
        self._source = source

    async def fetch(self, input: Any, init: dict[str, Any] | None = None, **kwargs: Any) -> Response:
        return await self._source.fetch(as_request(input, {**(init or {}), **kwargs}))

    def __repr__(self) -> str:
        return "<Fetcher ASSETS>"


class BaseHost(ABC):
    """One hosted app. Subclasses: ``WorkerHost``, ``PagesHost``."""

    def __init__(self, config: AppConfig, platform: Platform) -> None:
        self.config = config
        self.platform = platform
        self.log_source = f"app:{config.name}"
        self.env: Env | None = None
        self._background: set[asyncio.Task[None]] = set()
        # The name collisions last warned about: a reload with the same ones stays quiet.
        self._reported_collisions: list[NameCollision] = []

    # -- lifecycle (contract) -------------------------------------------------------
    @abstractmethod
    def load(self) -> None: ...

    @abstractmethod
    def reload(self) -> None: ...

    @abstractmethod
    def watch_paths(self) -> list[Path]: ...

    @abstractmethod
    def unload(self) -> None:
        """Drop the app's modules from ``sys.modules``; the host must be loaded again to serve."""

    # -- module generations ------------------------------------------------------------
    def neighbour_roots(self) -> dict[str, Path]:
        """The import roots of the other apps hosted alongside (app name → folder): a top-level
        name they share with this app is imported under a private name in each."""
        from emulator.runtime import import_root

        roots: dict[str, Path] = {}
        for app in self.platform.apps:
            if app.name != self.config.name and (root := import_root(app)) is not None:
                roots[app.name] = root
        return roots

    def new_package(self, root: Path, entry_names: Collection[str] = ()) -> AppPackage:
        """A new load generation of this app's modules, importing from ``root``; the host
        imports ``entry_names`` by path (see ``AppPackage``)."""
        return AppPackage(self.config.name, root, self.neighbour_roots(), entry_names)

    def report_generation(self, package: AppPackage, before: LibraryState) -> None:
        """Warn about what a generation's module names and process-wide library state mean
        for this app (docs/hosting.md, "Module names"); called after its import, failed or not."""
        if package.collisions and package.collisions != self._reported_collisions:
            self.platform.log.warn(self.log_source, describe_collisions(package.collisions))
        self._reported_collisions = package.collisions
        for message in before.notices(package):
            self.platform.log.warn(self.log_source, message)

    @abstractmethod
    async def dispatch(self, request: Request, entrypoint: str | None = None) -> Response:
        """The app's answer to ``request``; errors in app code become 500 responses."""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """App traffic from the server (``/_emulator/*`` and ``/__scheduled`` excluded).

        The edge's request body limit applies here (docs/hosting.md, "Request bodies"): a
        declared length over it is answered 413 before the app runs; a body that passes it
        while being read is answered 413 whatever the app returned.
        """
        incoming = request_from_aiohttp(request, LOCAL_CF, self.platform.request_bodies)
        source: BodySource | None = incoming.__dict__["_source"]
        if source is not None:
            return await self._handle_body(request, incoming, source)
        # No body (most requests): one coroutine, as lean as it was.
        try:
            response = await self.dispatch(incoming)
        except Exception:  # noqa: BLE001 - an emulator bug must not look like a dead server
            response = self._failed(request)
        # Most bodies are already in memory: convert them without another coroutine.
        out = buffered_aiohttp_response(response)
        return out if out is not None else await to_aiohttp_response(response, request)

    async def _handle_body(self, request: web.Request, incoming: Request, source: BodySource) -> web.StreamResponse:
        """``handle`` for a request with a body: the limit, then the spill files' cleanup."""
        declared = request.content_length
        if declared is not None and declared > self.platform.request_bodies.limit:
            return self._body_too_large(request, declared)
        try:
            try:
                response = await self.dispatch(incoming)
            except Exception:  # noqa: BLE001 - app code may raise anything: a logged 500, as workerd does
                response = self._failed(request)
            if source.exceeded:
                return self._body_too_large(request, None)
            out = buffered_aiohttp_response(response)
            if out is not None:
                return out
            if response._stream is None:
                # The request's body handed on as the response's is read here, under the limit.
                try:
                    return await to_aiohttp_response(response, request)
                except RequestBodyTooLarge:
                    return self._body_too_large(request, None)
            return await to_aiohttp_response(response, request)
        finally:
            if source.spilled:
                self._release_when_done(source)

    def _failed(self, request: web.Request) -> Response:
        """The 500 for an exception of ours (not the app's, which ``dispatch`` answers itself)."""
        exc = sys.exc_info()[1]
        self.platform.log.error(self.log_source, "cf-emulator failed to handle "
                                f"{request.method} {request.path}:\n{traceback.format_exc().rstrip()}")
        return Response(f"Internal Server Error: {type(exc).__name__}: {exc}\n", status=500)

    def _body_too_large(self, request: web.Request, declared: int | None) -> web.Response:
        """Cloudflare's 413 page (the edge's, not the app's answer)."""
        bodies = self.platform.request_bodies
        bodies.counters.rejected += 1
        how = f"declares {declared} bytes" if declared is not None else "passed it while being read"
        self.platform.log.warn(
            self.log_source,
            f"{request.method} {request.path}: the request body {how}, over the {bodies.limit}-byte request "
            "size limit: answered 413 as Cloudflare does. Raise the limit with `dev --request-body-limit` "
            "or `request_body_limit` in the workspace file.")
        response = web.Response(status=TOO_LARGE_STATUS, reason=TOO_LARGE_REASON, body=TOO_LARGE_HTML.encode(),
                                headers={"Content-Type": "text/html"})
        # The rest of the body is not wanted: aiohttp reads it to the void (bounded in time),
        # then closes the connection.
        response.force_close()
        return response

    def _release_when_done(self, source: BodySource) -> None:
        """Close the request's spill files once its ``waitUntil`` work (which may read them) ends.

        Every background task running now is waited for: a superset of the ones this
        request started, which only delays the cleanup.
        """
        pending = [task for task in self._background if not task.done()]
        if not pending:
            source.release()
            return

        async def release() -> None:
            try:
                await asyncio.wait(pending)
            finally:
                source.release()

        task = asyncio.get_running_loop().create_task(release())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def fetch_service(self, request: Request, entrypoint: str | None = None) -> Response:
        """A request arriving through another app's service binding."""
        return await self.dispatch(request, entrypoint)

    async def queue(self, batch: Any) -> None:
        raise RuntimeError(f"{self.config.name} is a Pages project: it cannot consume queues "
                           "(consumers belong in a Worker)")

    async def scheduled(self, cron: str, scheduled_time_ms: int) -> None:
        raise RuntimeError(f"{self.config.name} is a Pages project: it has no scheduled handler")

    def entrypoint_class(self, name: str) -> type:
        raise LookupError(f"{self.config.name} is a Pages project: it defines no entrypoint classes")

    async def call_rpc(self, entrypoint: str | None, method: str, args: tuple[Any, ...],
                       kwargs: dict[str, Any]) -> Any:
        raise RuntimeError(f"{self.config.name} does not accept RPC calls over service bindings")

    # -- env ----------------------------------------------------------------------------
    def build_env(self, assets: AssetSource | None, assets_binding: str | None) -> Env:
        extra: dict[str, Any] = {}
        if assets is not None and assets_binding:
            extra[assets_binding] = AssetsFetcher(assets)
        return self.platform.env_for(self.config, extra)

    # -- background work (ctx.waitUntil) -------------------------------------------------
    def run_background(self, awaitable: Awaitable[Any]) -> None:
        if not inspect.isawaitable(awaitable):
            raise TypeError("waitUntil() expects an awaitable (a coroutine, task or future)")
        task = asyncio.get_running_loop().create_task(guarded_background(self, awaitable))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def is_idle(self) -> bool:
        """No ``waitUntil`` work is still running (used by ``platform.drain()``)."""
        return not self._background

    async def wait_background(self) -> None:
        """Await every ``waitUntil`` task, including ones started meanwhile (graceful stop)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    # -- invoking app code ---------------------------------------------------------------
    def new_context(self) -> ExecutionContext:
        return ExecutionContext(self)

    async def call_app(self, fn: Any, *args: Any, ctx: ExecutionContext, env: Any = None,
                       **kwargs: Any) -> Any:
        """Run app code ``fn(*args)`` (relaxed) as this app, awaiting it if needed."""
        with invoke(self, env if env is not None else self.env, ctx):
            result = relaxed_call(fn, *args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result

    def error_response(self, exc: BaseException, what: str = "fetch") -> Response:
        """Log an uncaught exception with its traceback; answer a short 500."""
        self.platform.log.error(self.log_source, f"Uncaught exception in {what} handler:\n{app_traceback(exc)}")
        return Response(f"Internal Server Error: {type(exc).__name__}: {exc}\n"
                        "(the traceback is in the cf-emulator log)\n", status=500)
