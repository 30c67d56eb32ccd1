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

App code imports the ``workers`` shim (``emulator/runtime/shims/workers``), plus no-op
``js`` and ``pyodide.ffi`` stand-ins; ``shims_path()`` is put on ``sys.path`` before apps load.
"""
