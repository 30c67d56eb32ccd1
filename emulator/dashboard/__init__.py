"""The dashboard at ``/_emulator/``: one static page plus the JSON it needs.

Cloudflare's troubleshooting guides send developers to the dashboard (queue messages,
consumers, worker logs); locally they get the same view on every app port. The page is
plain HTML + JavaScript (``static/``, no build step) reading the binding plugins'
inspection routes (``/_emulator/queues``, ``/_emulator/workflows`` ...) and the few extra
endpoints of ``emulator.dashboard.api`` (overview, live log tail, read-only D1 queries,
R2 browsing).

The server mounts it on its ``/_emulator`` sub-application with ``setup(sub, platform)``;
``routes(platform)`` gives the same routes with full paths for anyone mounting them
elsewhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from collections.abc import Callable

if TYPE_CHECKING:
    from aiohttp import web

    from emulator.platform import Platform

PREFIX = "/_emulator"

__all__ = ["PREFIX", "routes", "setup"]


def routes(platform: Platform) -> list[web.RouteDef]:
    """The page (``/_emulator/``), its static files and its JSON API, with full paths."""
    from emulator.dashboard.api import DashboardApi

    return DashboardApi.for_platform(platform).routes(PREFIX)


def setup(app: web.Application, platform: Platform, prefix: str = "",
          wrap: Callable[[Any], Any] | None = None) -> None:
    """Add the dashboard to ``app`` (the ``/_emulator`` sub-app: ``prefix=""``).

    ``wrap`` is applied to every handler (the server's JSON-error and URL checks).
    Besides the routes this registers an ``on_shutdown`` hook that ends open log streams:
    aiohttp waits for running handlers before it stops, and a browser tab left open on
    the log tail must not hold up `dev`'s Ctrl-C or a test's teardown.
    """
    from aiohttp import web

    from emulator.dashboard.api import DashboardApi

    dashboard = DashboardApi.for_platform(platform)
    defs = dashboard.routes(prefix)
    if wrap is not None:
        defs = [web.RouteDef(d.method, d.path, wrap(d.handler), d.kwargs) for d in defs]
    app.add_routes(defs)

    async def end_streams(_app: web.Application) -> None:
        dashboard.close()

    app.on_shutdown.append(end_streams)
