"""What Worker and Pages hosts share: env assembly, fetchers, background work, errors.

An app's ``env`` is ``platform.env_for(app)`` (every binding type's objects, vars, secrets)
plus what the runtime adds: the ``ASSETS`` fetcher of the app's own static files.
"""

from __future__ import annotations

import asyncio
import inspect
import traceback
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Protocol

from aiohttp import web

from emulator.config.model import AppConfig
from emulator.runtime.http import (
    Request,
    Response,
    buffered_aiohttp_response,
    request_from_aiohttp,
    resolve_url,
    to_aiohttp_response,
)
from emulator.runtime.invocation import ExecutionContext, guarded_background, invoke
from emulator.runtime.loader import app_traceback
from emulator.runtime.relaxed_call import relaxed_call

if TYPE_CHECKING:
    from emulator.platform import Env, Platform

# What `request.cf` holds locally (production fills it from the edge; these are stand-ins).
LOCAL_CF = {"colo": "LCL", "country": "XX", "httpProtocol": "HTTP/1.1", "asn": 0,
            "clientTcpRtt": 0, "tlsVersion": ""}
# Placeholder origin for relative URLs handed to fetchers (Cloudflare requires absolute ones).
FETCHER_BASE = "http://fake-host/"


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

    def __init__(self, config: AppConfig, platform: "Platform") -> None:
        self.config = config
        self.platform = platform
        self.log_source = f"app:{config.name}"
        self.env: Env | None = None
        self._background: set[asyncio.Task[None]] = set()

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

    @abstractmethod
    async def dispatch(self, request: Request, entrypoint: str | None = None) -> Response:
        """The app's answer to ``request``; errors in app code become 500 responses."""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """App traffic from the server (``/_emulator/*`` and ``/__scheduled`` excluded)."""
        try:
            response = await self.dispatch(request_from_aiohttp(request, LOCAL_CF))
        except Exception as exc:  # noqa: BLE001 - an emulator bug must not look like a dead server
            self.platform.log.error(self.log_source, "cf-emulator failed to handle "
                                    f"{request.method} {request.path}:\n{traceback.format_exc().rstrip()}")
            response = Response(f"Internal Server Error: {type(exc).__name__}: {exc}\n", status=500)
        # Most bodies are already in memory: convert them without another coroutine.
        out = buffered_aiohttp_response(response)
        return out if out is not None else await to_aiohttp_response(response, request)

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
    def build_env(self, assets: AssetSource | None, assets_binding: str | None) -> "Env":
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
