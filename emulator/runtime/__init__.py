"""Hosting apps written as Cloudflare Python Workers.

Contract between the runtime (this package) and the server (``emulator.server``)::

    host = create_host(config: AppConfig, platform: Platform)   # WorkerHost or PagesHost
    host.load()                      # import the app; AppLoadError (with the traceback text) on failure
    host.reload()                    # re-import; on failure keep the last good version, raise AppLoadError
    await host.handle(request)       # aiohttp web.Request -> web.StreamResponse (app traffic)
    await host.queue(batch)          # the app's `queue` handler; raising = the batch failed
    await host.scheduled(cron, scheduled_time_ms)
    host.entrypoint_class(name)      # a class of the app's main module (workflow classes)
    await host.fetch_service(request)  # a request arriving through a service binding
    host.watch_paths()               # files/folders whose change should reload this app

App code imports the ``workers`` shim (``emulator/runtime/shims/workers``: the public API
of Cloudflare's Python SDK, with ``workers.asgi`` / ``workers.wsgi``), plus ``js`` and
``pyodide`` stand-ins (docs/python-workers.md); ``shims_path()`` is put on ``sys.path``
before apps load.

Also on hosts: ``host.is_idle()`` / ``await host.wait_background()`` for ``ctx.waitUntil``
work (``Platform.is_idle`` counts it), ``host.env`` (the app's current env),
``host.unload()`` (drop a replaced host's modules), and, for the workflows engine,
``host.new_context()`` / ``await host.call_app(fn, *args, ctx=, env=)`` (run app code as
this app: ``workers.env`` set, output attributed).

Layout: ``http`` (Request/Response/fetch: what apps see), ``aiohttp_adapter`` (aiohttp requests
in, responses and WebSocket upgrades out), ``entrypoints`` (WorkerEntrypoint),
``invocation`` (per-event contextvars, app output capture), ``relaxed_call``, ``loader``
(app modules under their own names, isolated between apps, swapped on reload),
``library_state`` (what a reload cannot replace: Django's once-per-process set-up),
``host`` (shared host logic, ASSETS and service fetchers), ``worker_host``, ``pages_host`` +
``pages_routing`` (Pages Functions), ``assets`` + ``asset_rules`` + ``mime_table`` (static
files, ``_headers``, ``_redirects``, content types), ``routes_json``, ``jsproxy`` (raw JS
values for ``js`` / ``pyodide.ffi``), ``websocket`` (``WebSocketPair``), ``sync_bridge``
(``run_sync`` for synchronous app code), ``strict`` (``--strict-runtime``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from emulator.config.model import AppConfig
    from emulator.platform import Platform
    from emulator.runtime.host import BaseHost
    from emulator.runtime.loader import AppLoadError, shims_path

__all__ = ["AppLoadError", "BaseHost", "create_host", "import_root", "shims_path"]


def __getattr__(name: str) -> Any:
    # Imported on first use: the errors apps see (``jsproxy.JsException``, which every
    # binding's errors derive from) and the Fetch API objects live in this package, and
    # importing them must not import the hosts (aiohttp, the loader) into a CLI verb.
    if name == "BaseHost":
        from emulator.runtime.host import BaseHost

        return BaseHost
    if name in ("AppLoadError", "shims_path"):
        from emulator.runtime import loader

        return getattr(loader, name)
    raise AttributeError(f"module 'emulator.runtime' has no attribute {name!r}")


def create_host(config: AppConfig, platform: Platform) -> BaseHost:
    """A ``WorkerHost`` or ``PagesHost`` for ``config`` (not loaded yet: call ``load()``)."""
    from emulator.runtime.loader import ensure_import_hooks

    ensure_import_hooks()
    if config.kind == "pages":
        from emulator.runtime.pages_host import PagesHost

        return PagesHost(config, platform)
    from emulator.runtime.worker_host import WorkerHost

    return WorkerHost(config, platform)


def import_root(config: AppConfig) -> Path | None:
    """The folder whose files ``config``'s app imports by their own names (the folder of a
    Worker's ``main``; a Pages project's output directory with ``_worker.py``, else its
    ``functions/``), or None when it has no Python code."""
    if config.kind == "pages":
        from emulator.runtime.pages_host import pages_import_root

        return pages_import_root(config)
    from emulator.runtime.worker_host import worker_main

    main = worker_main(config)
    return main.parent if main is not None else None
