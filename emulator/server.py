"""The aiohttp process: one listening port per hosted app, plus the internal API.

Every port answers the same internal routes (LocalStack's single-prefix idea, one prefix
per emulator: ``/_emulator/``) and otherwise belongs to one app:

- ``/_emulator/health``: JSON about every hosted app, the S3 endpoint, the state
  directory and each binding plugin;
- ``/_emulator/<plugin>/...``: each plugin's inspection routes (``BindingPlugin.routes()``);
  errors there are JSON with the right status, never a traceback;
- every ``/_emulator`` request first passes ``emulator.access.internal_refusal`` (Host
  allow-list; same-origin writes a browser must preflight), else a JSON 403
  (docs/security.md);
- ``/__scheduled?cron=...`` and ``/cdn-cgi/handler/scheduled`` (Worker apps): fire the
  app's ``scheduled`` handler by hand, as ``wrangler dev --test-scheduled`` does;
- everything else: ``host.handle(request)``, logged one line per request like wrangler
  (``[web] GET /api/x 200 OK (3ms)``).

The host is looked up per request (``platform.hosts[name]``) so hot reload can swap it.
"""

from __future__ import annotations

import asyncio
import errno
import json
import traceback
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from collections.abc import Awaitable, Callable

from aiohttp import web

from emulator.access import WILDCARD_IPS, internal_refusal
from emulator.config.model import AppConfig
from emulator.errors import StartError
from emulator.internal_api import checked
from emulator.platform import Platform
from emulator.runtime.aiohttp_adapter import upgraded_websockets

INTERNAL_PREFIX = "/_emulator"
SCHEDULED_PATHS = ("/__scheduled", "/cdn-cgi/handler/scheduled")
# Requests whose path starts with one of these go through the router; the rest are the app's.
_ROUTED_PREFIXES = (INTERNAL_PREFIX, *SCHEDULED_PATHS)
DEFAULT_PORT = 8787
# How far `dev` counts up past busy ports before giving up.
_MAX_PORT_PROBES = 100

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HealthSource = Callable[[str], dict[str, Any]]


class _AppRunner(web.AppRunner):
    """An ``AppRunner`` whose server hands app traffic straight to the app's handler.

    Only ``/_emulator/*`` and the scheduled-event paths go through aiohttp's router; every
    other request is the app's, so resolving it through the router (and the application's
    per-request bookkeeping) is pure overhead: skipping it is a measurable share of the
    request path (bench/http.py). App requests therefore carry no ``match_info``; the
    hosts read only the request itself.

    ``app_handler(routed)`` builds the server's handler: it sends the routed paths to
    ``routed`` (aiohttp's own handler) itself, so app traffic costs one coroutine, not a
    dispatching one in front of the app's.
    """

    def __init__(self, app: web.Application, app_handler: Callable[[Handler], Handler],
                 hurry: asyncio.Event | None = None, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._app_handler = app_handler
        self._hurry = hurry or asyncio.Event()

    async def _make_server(self) -> Any:
        server = await super()._make_server()
        # Both replace aiohttp internals on this one Server: it passes web.Request objects to
        # its handler (it serves an Application), and its shutdown becomes hurriable.
        server.request_handler = self._app_handler(server.request_handler)  # type: ignore[assignment]  # see the comment above
        server.shutdown = self._hurriable_shutdown(server)  # type: ignore[method-assign,assignment]  # see the comment above
        return server

    def _hurriable_shutdown(self, server: web.Server) -> Callable[[float | None], Awaitable[None]]:
        """aiohttp's graceful shutdown of ``server``, cut short once ``hurry`` is set.

        Graceful: each connection's request gets ``shutdown_timeout`` to finish, then is
        cancelled. Hurried (a second Ctrl-C): the graceful wait is abandoned and every
        connection goes straight to that last step, so requests are cancelled now
        rather than killed with the process (no traceback, handlers' ``finally`` run).
        """
        graceful = server.shutdown
        hurry = self._hurry

        async def shutdown(timeout: float | None = None) -> None:
            task = asyncio.ensure_future(graceful(timeout))
            waiter = asyncio.ensure_future(hurry.wait())
            try:
                await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                task.cancel()
                raise
            finally:
                waiter.cancel()
            if task.done():
                task.result()
                return
            task.cancel()
            await asyncio.wait({task})
            # A tiny positive timeout: aiohttp reads 0 as "no timeout".
            await asyncio.gather(*(conn.shutdown(0.001) for conn in server.connections), return_exceptions=True)

        return shutdown


# Also an OSError (EADDRINUSE), as binding the socket itself reports a taken port.
class PortInUseError(StartError, OSError):
    """An app's explicitly configured port is taken."""


@dataclass(frozen=True)
class PortRequest:
    """Where one app wants to listen: an exact port, or the first free one from ``port``."""

    port: int
    exact: bool


def plan_ports(apps: list[AppConfig], port: int | None) -> list[PortRequest]:
    """Port of every app: its ``[dev] port``, else ``port`` (default 8787) counting up.

    ``port == 0`` asks for a free port per app (tests, parallel runs) and ignores
    ``[dev] port``.
    """
    if port == 0:
        return [PortRequest(0, exact=False) for _ in apps]
    claimed = {app.dev.port for app in apps if app.dev.port}
    next_port = port if port is not None else DEFAULT_PORT
    plan: list[PortRequest] = []
    for app in apps:
        if app.dev.port:
            plan.append(PortRequest(app.dev.port, exact=True))
            continue
        while next_port in claimed:
            next_port += 1
        plan.append(PortRequest(next_port, exact=False))
        claimed.add(next_port)
        next_port += 1
    return plan


def client_host(ip: str) -> str:
    """The address a client on this machine uses to reach a listener bound to ``ip``."""
    if ip == "::":
        return "[::1]"
    if ip in WILDCARD_IPS:
        return "127.0.0.1"
    return f"[{ip}]" if ":" in ip else ip


def _is_internal(raw_path: str) -> bool:
    """Whether a routed path is under ``/_emulator`` (``/_emulatorx`` is the app's)."""
    rest = raw_path[len(INTERNAL_PREFIX):]
    return raw_path.startswith(INTERNAL_PREFIX) and (not rest or rest[0] in "/?")


def _json_error(status: int, message: str, **extra: Any) -> web.Response:
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body = {"error": reason, "status": status, "message": message, **extra}
    return web.json_response(body, status=status)


def app_bindings(app: AppConfig) -> dict[str, Any]:
    """A JSON summary of what an app's `env` holds (health, dashboard), by binding type."""
    from emulator.bindings import binding_types

    out: dict[str, Any] = {}
    for kind in binding_types():
        summary = kind.summary(kind.of(app)) if kind.used_by(app) else {}
        if summary:
            out[kind.name] = summary
    if app.assets is not None and app.assets.binding:
        out["assets"] = app.assets.binding
    names = sorted(app.env_vars())
    if names:
        # Names only: secrets from .dev.vars must not leak through an HTTP endpoint.
        out["vars"] = names
    return out


class EmulatorServer:
    """The listeners of one `dev` process: an aiohttp application per hosted app."""

    def __init__(self, platform: Platform, health: HealthSource, ip: str = "127.0.0.1",
                 shutdown_timeout: float = 5.0) -> None:
        self.platform = platform
        self.ip = ip
        self.shutdown_timeout = shutdown_timeout
        self._health = health
        self._runners: dict[str, web.AppRunner] = {}
        # Set by `hurry()`: a close in progress cancels the requests still running at once.
        self._hurry = asyncio.Event()
        self.urls: dict[str, str] = {}
        self.ports: dict[str, int] = {}

    # --- building -------------------------------------------------------------------
    def _json_errors(self, handler: Handler) -> Handler:
        """Wrap an internal API handler: errors become JSON with the right status.

        A wrapper per handler rather than an aiohttp middleware: any middleware makes
        aiohttp run the middleware chain for *every* request of the application, the
        app traffic included, which the request path cannot afford (bench/http.py).
        """
        log = self.platform.log

        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except web.HTTPException as exc:
                if exc.status < 400 or exc.content_type == "application/json":
                    raise
                text = exc.text or ""
                default = f"{exc.status}: {exc.reason}"
                response = _json_error(exc.status, exc.reason if text == default else text)
                if isinstance(exc, web.HTTPMethodNotAllowed):
                    response.headers["Allow"] = ",".join(sorted(exc.allowed_methods))
                return response
            except (asyncio.CancelledError, ConnectionResetError):
                raise
            except Exception as exc:  # noqa: BLE001 - an emulator bug is a logged 500, never a dropped connection
                # The traceback goes to the log for the developer, never to the client.
                log.error("http", f"internal API {request.method} {request.path} failed: {exc!r}",
                          traceback=traceback.format_exc())
                return _json_error(500, f"{type(exc).__name__}: {exc}")

        return wrapped

    def _refuse(self, request: web.Request, reason: str) -> web.Response:
        """The answer to an internal request that failed ``internal_refusal``: a JSON 403,
        without any ``Access-Control-Allow-*`` header (we never approve a cross-origin call)."""
        self.platform.log.warn("http", f"refused {request.method} {request.raw_path}: {reason}",
                               method=request.method, path=request.raw_path,
                               host=request.headers.get("Host"), origin=request.headers.get("Origin"))
        return _json_error(403, reason)

    def _add_internal_routes(self, application: web.Application, app_name: str) -> list[web.AbstractResource]:
        """``/_emulator/...``: health, each plugin's routes, the dashboard, JSON 404/405.

        Returns the catch-all resources, which the 405 check must skip (the caller adds
        the app's own catch-all to the list).
        """
        router = application.router

        async def health(request: web.Request) -> web.Response:
            return web.json_response(self._health(app_name), dumps=lambda v: json.dumps(v, default=str))

        router.add_get(INTERNAL_PREFIX + "/health", self._json_errors(checked(health)))
        for name, plugin in self.platform.plugins.items():
            for route in plugin.routes():
                path = route.path
                # Plugins give full paths (`/_emulator/queues/...`); tolerate relative ones.
                if not path.startswith(INTERNAL_PREFIX + "/"):
                    path = f"{INTERNAL_PREFIX}/{name}{path if path.startswith('/') else '/' + path}"
                handler = self._json_errors(checked(route.handler))
                web.RouteDef(route.method, path, handler, route.kwargs).register(router)
        # The dashboard page (`/_emulator/`) and its JSON API, on every port.
        from emulator import dashboard

        dashboard.setup(application, self.platform, prefix=INTERNAL_PREFIX,
                        wrap=lambda handler: self._json_errors(checked(handler)))

        async def not_found(request: web.Request) -> web.Response:
            # A known path with another method is a 405, as aiohttp would say without
            # this catch-all route.
            allowed: set[str] = set()
            for resource in request.app.router.resources():
                if resource in catch_alls:
                    continue
                match, methods = await resource.resolve(request)
                if match is None:
                    allowed |= methods
            if allowed:
                response = _json_error(405, f"{request.method} is not allowed here")
                response.headers["Allow"] = ",".join(sorted(allowed))
                return response
            return _json_error(404, f"no internal endpoint at {request.path}")

        catch_alls: list[web.AbstractResource] = []
        # `[\s\S]`, not `.`: a path may hold a newline (%0A), which `.` does not match.
        for pattern in (INTERNAL_PREFIX, INTERNAL_PREFIX + r"/{tail:[\s\S]*}"):
            resource = router.add_resource(pattern)
            resource.add_route("*", checked(not_found))
            catch_alls.append(resource)
        return catch_alls

    def _application(self, app: AppConfig) -> tuple[web.Application, Callable[[Handler], Handler]]:
        """The app's aiohttp application (internal routes + catch-all) and its server handler.

        The second item builds the server's request handler from aiohttp's routed one
        (see ``_AppRunner``).
        """
        name = app.name
        platform = self.platform
        log = platform.log
        emit_fields = log.emit_fields
        loop_time = asyncio.get_running_loop().time
        allow_list = platform.host_allow_list

        def app_handler(routed: Handler | None) -> Handler:
            """The app's request handler; given ``routed``, the server's handler of every request.

            One body for both, so app traffic through the server runs a single coroutine.
            """

            async def serve(request: web.Request) -> web.StreamResponse:
                if routed is not None and request.raw_path.startswith(_ROUTED_PREFIXES):
                    if _is_internal(request.raw_path):
                        refusal = internal_refusal(request.method, request.headers, allow_list)
                        if refusal is not None:
                            return self._refuse(request, refusal)
                    return await routed(request)
                started = loop_time()
                host = platform.hosts[name]
                try:
                    # The server only routes to the runtime's hosts (BaseHost), which AppHost,
                    # the plugins' view of a host, leaves out.
                    response: web.StreamResponse = await host.handle(request)  # type: ignore[attr-defined]  # see the comment above
                except (asyncio.CancelledError, ConnectionResetError):
                    raise
                except Exception as exc:  # noqa: BLE001 - app code may raise anything: a logged 500 as workerd does
                    log.error(f"app:{name}", f"{request.method} {request.path} raised {exc!r}",
                              traceback=traceback.format_exc())
                    response = web.Response(status=500, text="Internal Server Error")
                ms = round((loop_time() - started) * 1000)
                method, path, status = request.method, request.raw_path, response.status
                # `emit_fields` directly: `info` would re-pack the fields (one line per request).
                emit_fields("info", "http", f"[{name}] {method} {path} {status} {response.reason} ({ms}ms)",
                            {"app": name, "method": method, "path": path, "status": status, "duration_ms": ms})
                return response

            return serve

        # What the router's catch-all (and a Pages app's scheduled paths) serve.
        serve = app_handler(None)

        async def scheduled(request: web.Request) -> web.StreamResponse:
            if platform.app(name).kind != "worker":
                return await serve(request)  # Pages has no scheduled handler: a normal path
            cron = request.query.get("cron", "")
            time_param = request.query.get("time")
            try:
                scheduled_ms = int(time_param) if time_param else platform.clock.now_ms()
            except ValueError:
                return web.Response(status=400,
                                    text=f"invalid time {time_param!r}: expected milliseconds since the epoch")
            started = loop_time()
            host = platform.hosts[name]
            try:
                await host.scheduled(cron, scheduled_ms)
            except Exception as exc:  # noqa: BLE001 - app code may raise anything: reported to the caller
                log.error(f"app:{name}", f"scheduled handler for {cron!r} raised {exc!r}",
                          traceback=traceback.format_exc())
                status, text = 500, f"Scheduled event failed: {type(exc).__name__}: {exc}"
            else:
                # wrangler's scheduled middleware answers exactly this.
                status, text = 200, "Ran scheduled event"
            ms = round((loop_time() - started) * 1000)
            log.info("http", f"[{name}] {request.method} {request.raw_path} {status} ({ms}ms)",
                     app=name, method=request.method, path=request.raw_path, status=status, duration_ms=ms)
            return web.Response(status=status, text=text)

        # App traffic never goes through aiohttp's body reading (the hosts apply the edge's
        # limit and answer Cloudflare's 413); the internal routes read JSON bodies under the
        # same limit (a big `d1 execute --file`), answered as JSON 413 by `_json_errors`.
        application = web.Application(client_max_size=platform.request_bodies.limit)
        catch_alls = self._add_internal_routes(application, name)
        for path in SCHEDULED_PATHS:
            application.router.add_route("*", path, scheduled)
        app_resource = application.router.add_resource(r"/{tail:[\s\S]*}")
        app_resource.add_route("*", serve)
        # The 405 check of `/_emulator/*` must not see the app's catch-all as a match.
        catch_alls.append(app_resource)
        return application, app_handler

    def internal_routes(self) -> list[tuple[str, str]]:
        """``(method, path pattern)`` of every ``/_emulator`` route, as registered (every app's
        port serves the same ones): for tools, and the internal API's fuzz test."""
        for runner in self._runners.values():
            routes = []
            for route in runner.app.router.routes():
                info = route.resource.get_info() if route.resource is not None else {}
                pattern = info.get("path") or info.get("formatter") or ""
                if pattern.startswith(INTERNAL_PREFIX):
                    routes.append((route.method, pattern))
            return routes
        return []

    # --- lifecycle ------------------------------------------------------------------
    async def bind(self, apps: list[AppConfig], plan: list[PortRequest]) -> dict[str, str]:
        """Listen for every app; returns app name → URL. Counted ports skip busy ones."""
        for app, request in zip(apps, plan, strict=True):
            application, app_handler = self._application(app)
            runner = _AppRunner(application, app_handler, hurry=self._hurry, access_log=None,
                                shutdown_timeout=self.shutdown_timeout)
            await runner.setup()
            port = request.port
            for _ in range(_MAX_PORT_PROBES):
                site = web.TCPSite(runner, self.ip, port)
                try:
                    await site.start()
                    break
                except OSError as exc:
                    if exc.errno != errno.EADDRINUSE or request.exact or port == 0:
                        await runner.cleanup()
                        await self.close()
                        where = "its [dev] port" if request.exact else "the requested port"
                        raise PortInUseError(
                            exc.errno, f"cannot listen on {self.ip}:{port} for app {app.name!r} ({where}): "
                                       f"{exc.strerror}. Stop whatever uses it or choose another port."
                        ) from None
                    self.platform.log.warn("dev", f"port {port} is in use; trying {port + 1} for {app.name}")
                    port += 1
            else:
                await runner.cleanup()
                await self.close()
                raise PortInUseError(errno.EADDRINUSE, f"no free port from {request.port} for app {app.name!r}")
            actual = runner.addresses[0][1]
            self._runners[app.name] = runner
            self.ports[app.name] = actual
            self.urls[app.name] = f"http://{client_host(self.ip)}:{actual}"
        return dict(self.urls)

    def application(self, app_name: str) -> web.Application:
        """The aiohttp application serving ``app_name``'s port: its router lists every
        internal route (tests enumerate the state-changing ones from it)."""
        return self._runners[app_name].app

    async def stop_accepting(self) -> None:
        """Close the listening sockets; requests already running may finish."""
        for runner in self._runners.values():
            for site in list(runner.sites):
                server = getattr(site, "_server", None)
                if server is not None:
                    server.close()

    def hurry(self) -> None:
        """Make ``close()`` (running or to come) cancel in-flight requests without waiting."""
        self._hurry.set()

    async def close(self) -> None:
        runners, self._runners = list(self._runners.values()), {}
        for runner in runners:
            await self._close_websockets(runner)
            await runner.cleanup()

    @staticmethod
    async def _close_websockets(runner: web.AppRunner) -> None:
        """Close the WebSockets apps upgraded on this runner's connections ("going away"):
        they would otherwise hold the stop for the whole shutdown timeout."""
        server = runner.server
        if server is None:
            return
        connections = set(server.connections)
        for ws, protocol in upgraded_websockets().items():
            if protocol in connections:
                try:
                    await asyncio.wait_for(ws.close(code=1001, message=b"Server shutting down"), timeout=2)
                except (TimeoutError, ConnectionError, RuntimeError):
                    pass
