"""The dashboard's own endpoints, next to the plugins' inspection routes.

The plugins already answer the questions a CLI asks (queue stats, peek, purge, redrive,
workflow instances). What only the dashboard needs lives here, under
``/_emulator/dashboard/``:

- ``GET  /``                                   the page (``static/index.html``)
- ``GET  /dashboard/static/{name}``            its script and style sheet (a fixed list)
- ``GET  /dashboard/panels/{type}.js``         a binding type's tab (its package's ``panel.js``)
- ``GET  /dashboard/api/overview``             apps with their bindings table, each binding
                                               plugin's overview, the clock
- ``GET  /dashboard/api/logs?after=N&wait=S``  log records numbered above N (long-poll)
- ``GET  /dashboard/api/logs/stream``          the same as Server-Sent Events (``Last-Event-ID``)

The shell (``static/``) shows the Overview and Logs tabs; every other tab is a binding
type's ``panel.js``, served from the registry (``emulator.bindings``), reading that type's
own routes (``/_emulator/<type>/...``) and its part of the overview.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from aiohttp import web

from emulator.clock import FakeClock
from emulator.dashboard.logtail import LogTail, record_json

if TYPE_CHECKING:
    from emulator.platform import Platform

STATIC_DIR = Path(__file__).parent / "static"
# Served by name from this fixed table only: no path from a request reaches the file system.
STATIC_FILES: dict[str, str] = {
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
}
# Longest a long-poll request or one SSE connection is held open (real time: it is a
# browser keep-alive, not emulated time). EventSource reconnects with Last-Event-ID.
LONG_POLL_MAX = 25.0
STREAM_LIFETIME = 60.0
STREAM_HEARTBEAT = 10.0
# The first page load shows this many earlier lines.
BACKLOG_LINES = 300


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message, "status": status, "message": message}, status=status)


def _http_error(exc_class: type[web.HTTPException], message: str) -> web.HTTPException:
    """An HTTP error to raise whose body is already our JSON error shape."""
    body = _dumps({"error": message, "status": exc_class.status_code, "message": message})
    return exc_class(text=body, content_type="application/json")


class DashboardApi:
    """The dashboard's handlers for one platform (shared by every port's app)."""

    _by_platform: ClassVar[weakref.WeakKeyDictionary[Platform, DashboardApi]] = weakref.WeakKeyDictionary()

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.tail = LogTail(platform.log)

    @classmethod
    def for_platform(cls, platform: Platform) -> DashboardApi:
        """One instance per platform, so every port's log tail numbers lines the same way."""
        existing = cls._by_platform.get(platform)
        if existing is None or existing.tail.closed:
            existing = cls._by_platform[platform] = cls(platform)
        return existing

    def close(self) -> None:
        self.tail.close()

    def routes(self, prefix: str = "") -> list[web.RouteDef]:
        api = f"{prefix}/dashboard/api"
        return [
            # `/_emulator` (no slash) would resolve the page's relative URLs one level up.
            web.get(prefix, self.to_page),
            web.get(f"{prefix}/", self.page),
            web.get(f"{prefix}/dashboard/static/{{name}}", self.static),
            web.get(f"{prefix}/dashboard/panels/{{name}}", self.panel),
            web.get(f"{api}/overview", self.overview),
            web.get(f"{api}/logs", self.logs),
            web.get(f"{api}/logs/stream", self.log_stream),
        ]

    # --- page -------------------------------------------------------------------------
    @staticmethod
    def panel_types() -> list[str]:
        """Binding types with a dashboard tab, in the registry's order."""
        from emulator.bindings import BINDING_TYPES, package_file

        return [name for name in BINDING_TYPES if package_file(name, "panel.js") is not None]

    async def page(self, request: web.Request) -> web.StreamResponse:
        scripts = "\n".join(f'  <script src="dashboard/panels/{name}.js" defer></script>'
                            for name in self.panel_types())
        html = (STATIC_DIR / "index.html").read_text(encoding="utf-8").replace("  <!--panels-->", scripts)
        return web.Response(text=html, headers={
            "content-type": "text/html; charset=utf-8",
            "cache-control": "no-store",
            # The page only talks to its own origin and runs only its own script.
            "content-security-policy": "default-src 'self'; img-src 'self' data:; base-uri 'none'; "
                                       "frame-ancestors 'none'; form-action 'none'",
            "x-content-type-options": "nosniff",
        })

    async def panel(self, request: web.Request) -> web.StreamResponse:
        from emulator.bindings import package_file

        name = request.match_info["name"].removesuffix(".js")
        # Only registered types' own panel files: no path from a request reaches the disk.
        path = package_file(name, "panel.js") if name in self.panel_types() else None
        if path is None:
            return _error(404, f"no dashboard panel named {name!r}")
        return web.FileResponse(path, headers={
            "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache",
            "x-content-type-options": "nosniff"})

    async def to_page(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(request.path + "/")

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        content_type = STATIC_FILES.get(name)
        if content_type is None:
            return _error(404, f"no dashboard file named {name!r}")
        return web.FileResponse(STATIC_DIR / name, headers={
            "content-type": f"{content_type}; charset=utf-8", "cache-control": "no-cache",
            "x-content-type-options": "nosniff"})

    # --- overview ---------------------------------------------------------------------
    def overview_data(self) -> dict[str, Any]:
        """Every app's bindings table, each running binding plugin's overview, the clock."""
        from emulator.bindings import binding_rows

        clock = self.platform.clock
        return {
            "apps": [{"name": app.name, "kind": app.kind, "bindings": binding_rows(app)}
                     for app in self.platform.apps],
            "bindings": {name: plugin.overview() for name, plugin in self.platform.plugins.items()},
            "clock": {"now": clock.now(), "fake": isinstance(clock, FakeClock)},
        }

    async def overview(self, request: web.Request) -> web.Response:
        return web.json_response(self.overview_data(), dumps=_dumps)

    # --- logs -------------------------------------------------------------------------
    @staticmethod
    def _int_param(request: web.Request, name: str, default: int) -> int:
        raw = request.query.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise _http_error(web.HTTPBadRequest, f"{name} must be an integer, got {raw!r}") from None

    async def logs(self, request: web.Request) -> web.Response:
        after = self._int_param(request, "after", max(0, self.tail.last_seq - BACKLOG_LINES))
        limit = max(1, min(self._int_param(request, "limit", 500), 2000))
        try:
            wait = float(request.query.get("wait") or 0)
        except ValueError:
            return _error(400, "wait must be a number of seconds")
        wait = max(0.0, min(wait, LONG_POLL_MAX))
        items = await self.tail.wait(after, wait, limit) if wait else self.tail.since(after, limit)
        last = items[-1][0] if items else max(after, 0)
        return web.json_response({"records": [record_json(s, r) for s, r in items], "last": last},
                                 dumps=_dumps)

    async def log_stream(self, request: web.Request) -> web.StreamResponse:
        """Server-Sent Events: ``id`` is the record number, ``data`` its JSON."""
        resume = request.headers.get("Last-Event-ID") or request.query.get("after")
        try:
            after = int(resume) if resume else max(0, self.tail.last_seq - BACKLOG_LINES)
        except ValueError:
            return _error(400, f"Last-Event-ID must be an integer, got {resume!r}")
        response = web.StreamResponse(headers={
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-store",
            "x-accel-buffering": "no",
        })
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        closes_at = loop.time() + STREAM_LIFETIME
        try:
            await response.write(b"retry: 500\n\n")
            while loop.time() < closes_at:
                items = await self.tail.wait(after, min(STREAM_HEARTBEAT, max(0.0, closes_at - loop.time())))
                if self.tail.closed:
                    break
                if not items:
                    await response.write(b": keep-alive\n\n")
                    continue
                chunk = "".join(f"id: {seq}\ndata: {_dumps(record_json(seq, record))}\n\n"
                                for seq, record in items)
                await response.write(chunk.encode())
                after = items[-1][0]
        except ConnectionResetError:
            pass  # the tab was closed: nothing to tell anyone
        return response
