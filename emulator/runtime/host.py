"""What Worker and Pages hosts share: env assembly, fetchers, background work, errors.

An app's ``env`` is ``platform.env_for(app)`` (queues, R2, D1, workflows, vars, secrets)
plus what the runtime adds: the ``ASSETS`` fetcher and one fetcher per service binding,
which calls the target app's host in this same process (``platform.hosts[service]``).
"""

from __future__ import annotations

import asyncio
import inspect
import traceback
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Protocol

from aiohttp import web

from emulator.config.model import AppConfig, ServiceBinding
from emulator.runtime.http import (
    FetchResponse,
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


def as_response(result: Any) -> Response | None:
    """A handler's result as a response: a ``Response`` (SDK or JS, the same class here) or
    anything whose ``js_object`` / ``js_response`` is one, as workerd accepts; else None."""
    if isinstance(result, FetchResponse):
        return result  # type: ignore[return-value]
    inner = getattr(result, "js_object", None) or getattr(result, "js_response", None)
    return inner if isinstance(inner, FetchResponse) else None  # type: ignore[return-value]


def unsupported_binding_error(config: AppConfig) -> str | None:
    """Why ``config`` cannot be hosted yet: a Durable Object binding (not emulated), or None.

    ``AppConfig`` has no Durable Objects yet, so the wrangler file is read again here.
    """
    from emulator.config.loader import read_config_file

    parsed = read_config_file(config.config_path)
    raw = parsed.raw if isinstance(parsed.raw, dict) else {}
    section = raw
    if config.env_name:
        envs = raw.get("env")
        section = envs.get(config.env_name, {}) if isinstance(envs, dict) else {}
    dos = section.get("durable_objects") if isinstance(section, dict) else None
    bindings = dos.get("bindings") if isinstance(dos, dict) else None
    if not isinstance(bindings, list) or not bindings:
        return None
    names = ", ".join(f"{b.get('name')} (class {b.get('class_name')})" for b in bindings if isinstance(b, dict))
    return (f"{config.name}: Durable Objects are not emulated yet: binding {names} in "
            f"{config.config_path.name}. `from workers import DurableObject` works, but cf-emulator "
            "cannot host Durable Object namespaces yet; remove the durable_objects bindings to run the "
            "rest of the app.")


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


class ServiceFetcher:
    """A service binding: ``fetch`` and RPC method calls go to another hosted app."""

    def __init__(self, platform: "Platform", binding: ServiceBinding, caller: str) -> None:
        self._platform = platform
        self._binding = binding
        self._caller = caller

    def _target(self) -> "BaseHost":
        host = self._platform.hosts.get(self._binding.service)
        if host is None:
            raise RuntimeError(
                f"Service binding {self._binding.binding} of {self._caller}: no hosted app named "
                f"{self._binding.service!r}. Host it too (add it to the workspace or pass another "
                f"-c CONFIG to `cf-emulator dev`)."
            )
        if not isinstance(host, BaseHost):
            raise RuntimeError(f"Service binding {self._binding.binding}: {self._binding.service!r} "
                               "cannot receive requests")
        return host

    async def fetch(self, input: Any, init: dict[str, Any] | None = None, **kwargs: Any) -> Response:
        target = self._target()
        return await target.fetch_service(as_request(input, {**(init or {}), **kwargs}),
                                          entrypoint=self._binding.entrypoint)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await self._target().call_rpc(self._binding.entrypoint, name, args, kwargs)

        call.__name__ = name
        return call

    def __repr__(self) -> str:
        return f"<Fetcher {self._binding.binding} → {self._binding.service}>"


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
        if response.status == 101 and response.web_socket is not None:
            return await self._accept_websocket(response, request)
        # Most bodies are already in memory: convert them without another coroutine.
        out = buffered_aiohttp_response(response)
        return out if out is not None else await to_aiohttp_response(response, request)

    async def _accept_websocket(self, response: Response, request: web.Request) -> web.StreamResponse:
        """A 101 response with ``web_socket``: connect its client end to this connection."""
        from emulator.runtime.websocket import bridge

        if request.headers.get("upgrade", "").lower() != "websocket":
            # workerd refuses the same way: the client did not ask for a WebSocket.
            message = ("Worker tried to return a WebSocket in a response to a request which did not "
                       "request a WebSocket.")
            self.platform.log.error(self.log_source, message)
            return web.Response(status=500, text=f"Internal Server Error: {message}\n")
        return await bridge(response.web_socket, request,
                            lambda text: self.platform.log.error(self.log_source, text))

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
        for svc in self.config.services:
            extra[svc.binding] = ServiceFetcher(self.platform, svc, self.config.name)
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
