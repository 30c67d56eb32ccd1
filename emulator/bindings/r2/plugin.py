"""The R2 binding plugin: one ``R2Store`` per platform, a bucket object per name, the S3 endpoint.

Public engine API for other code (CLI, dashboard, pytest plugin)::

    plugin = platform.plugin("r2")
    plugin.bucket("my-bucket")      # R2Bucket (created if needed), shared across apps
    plugin.store                    # R2Store, opened on the state directory on first use
    plugin.s3_endpoint              # "http://127.0.0.1:<port>" once started, else None

The store (moto's S3 models, ~0.4 s to import, and every persisted object) is opened on
first use, not at start: `dev` answers its first request without it (bench/startup.py).
Once the apps serve, ``serving()`` opens it on a worker thread, so the first R2 call of a
developer rarely waits for it; a call that comes sooner waits for the same opening.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

from emulator.bindings import BindingPlugin
from emulator.bindings.r2.binding import R2Bucket
from emulator.bindings.r2.config import r2_config

if TYPE_CHECKING:
    from aiohttp import web

    from emulator.bindings.r2.s3 import S3Server
    from emulator.bindings.r2.store import R2Store
    from emulator.config.model import AppConfig
    from emulator.platform import Platform

__all__ = ["Plugin"]


class _LazyStore:
    """Stands for the plugin's ``R2Store`` until it is opened: the bucket objects and the S3
    endpoint hold this, and their first real call opens the store. Declaring a bucket
    (``ensure_bucket``) before then is remembered and applied when it opens."""

    def __init__(self, plugin: Plugin) -> None:
        self._plugin = plugin

    def ensure_bucket(self, name: str) -> None:
        plugin = self._plugin
        with plugin._store_lock:
            if plugin._store is None:
                plugin._declared.append(name)
                return
        plugin._store.ensure_bucket(name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._plugin.store, name)


class Plugin(BindingPlugin):
    name = "r2"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self._store: R2Store | None = None
        self._store_lock = threading.Lock()  # the warm-up thread and the loop may race to open it
        self._declared: list[str] = []  # buckets declared before the store opened
        self._lazy = _LazyStore(self)
        self._warming: asyncio.Future[None] | None = None
        self._buckets: dict[str, R2Bucket] = {}
        self._s3: S3Server | None = None
        self.s3_endpoint: str | None = None

    @property
    def store(self) -> R2Store:
        """The engine, opened on ``<state>/r2`` on first use (objects stay on disk)."""
        store = self._store
        if store is not None:
            return store
        with self._store_lock:
            if self._store is None:
                self._store = self._open_store()
            return self._store

    def _open_store(self) -> R2Store:
        from emulator.bindings.r2.store import R2Store

        store = R2Store(self.platform.state.binding_dir("r2"), on_damaged=self._damaged)
        count = store.restore()
        for name in self._declared:
            store.ensure_bucket(name)
        self._declared.clear()
        if count:
            self.platform.log.debug("r2", f"opened {count} bucket(s) from disk")
        return store

    def _damaged(self, bucket: str, key: str) -> None:
        self.platform.log.warn("r2", f"object {key!r} of bucket {bucket!r} lost its data "
                                     "file in the state directory; it is not served",
                               bucket=bucket, key=key)

    def bucket(self, name: str) -> R2Bucket:
        """The binding object for bucket ``name`` (one per name: shared across apps)."""
        if name not in self._buckets:
            self._buckets[name] = R2Bucket(self._lazy, name, self.platform.clock)  # type: ignore[arg-type]  # the lazy store stands in for R2Store (same attributes, opened on first use)
        return self._buckets[name]

    def serving(self) -> None:
        """Open the store on a worker thread now that the apps serve (see the module docstring)."""
        if self._store is None and self._warming is None:
            self._warming = asyncio.get_running_loop().run_in_executor(None, self._warm_up)

    def _warm_up(self) -> None:
        try:
            self.store  # noqa: B018 - the property opens the store: that is the warm-up
        except Exception as exc:  # noqa: BLE001 - the first real use raises it again, to whoever asked
            self.platform.log.debug("r2", f"opening the R2 store in the background failed: {exc!r}")

    def _probe_indexes(self) -> None:
        """Refuse to start on a damaged bucket index, as opening the store would (a clear
        start error instead of a failure at first use), without importing moto: one read of
        each index's schema (``<state>/r2/<bucket>/index.sqlite3``, the store's layout)."""
        import sqlite3
        from urllib.request import pathname2url

        root = self.platform.state.root / "r2"
        for index in sorted(root.glob("*/index.sqlite3")) if root.is_dir() else []:
            conn = sqlite3.connect(f"file:{pathname2url(str(index))}?mode=rw", uri=True)
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            finally:
                conn.close()

    async def start(self) -> None:
        self._probe_indexes()
        for app in self.platform.apps:
            for b in r2_config(app).buckets:
                self.bucket(b.bucket_name)
        if self.platform.s3_port is not None and self._s3 is None:
            from emulator.bindings.r2.s3 import S3Server

            server = S3Server(self._lazy, self.platform.clock, self.platform.ip,  # type: ignore[arg-type]  # the lazy store stands in for R2Store (same attributes, opened on first use)
                              self.platform.s3_port, self.platform.host_allow_list)
            try:
                self.s3_endpoint = await server.start()
            except OSError as exc:
                await server.stop()
                raise RuntimeError(f"S3 endpoint: cannot listen on {self.platform.ip}:"
                                   f"{self.platform.s3_port} ({exc.strerror or exc})") from None
            self._s3 = server
            # `dev` prints the endpoint itself; this is for other hosts of a Platform.
            self.platform.log.debug("r2", f"S3 endpoint: {self.s3_endpoint}",
                                    endpoint=self.s3_endpoint)

    async def stop(self) -> None:
        warming, self._warming = self._warming, None
        if warming is not None:
            await asyncio.wait([warming])  # never close a store while it is being opened
        if self._s3 is not None:
            await self._s3.stop()
            self._s3 = None
            self.s3_endpoint = None
        if self._store is not None:
            self._store.close()
            self._store = None
        self._declared.clear()
        self._buckets.clear()

    def bindings_for(self, app: AppConfig) -> dict[str, Any]:
        return {b.binding: self.bucket(b.bucket_name) for b in r2_config(app).buckets}

    def routes(self) -> list[web.RouteDef]:
        from emulator.bindings.r2.routes import routes

        return routes(self)

    def health(self) -> dict[str, Any]:
        info: dict[str, Any] = {"state": "running",
                                "buckets": self.store.bucket_names() if self._store else sorted(set(self._declared))}
        if self.s3_endpoint:
            info["s3"] = {"endpoint": self.s3_endpoint}
        return info

    def overview(self) -> dict[str, Any]:
        buckets: dict[str, dict[str, Any]] = {}
        for app in self.platform.apps:
            for b in r2_config(app).buckets:
                buckets.setdefault(b.bucket_name, {"bindings": []})["bindings"].append(
                    {"app": app.name, "binding": b.binding})
        return {"buckets": dict(sorted(buckets.items())), "s3Endpoint": self.s3_endpoint}
