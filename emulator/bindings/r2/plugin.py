"""The R2 binding plugin: one ``R2Store`` per platform, a bucket object per name, the S3 endpoint.

Public engine API for other code (CLI, dashboard, pytest plugin)::

    plugin = platform.plugin("r2")
    plugin.bucket("my-bucket")      # R2Bucket (created if needed), shared across apps
    plugin.store                    # R2Store, opened on the state directory on first use
    plugin.s3_endpoint              # "http://127.0.0.1:<port>" once started, else None
"""

from __future__ import annotations

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


class Plugin(BindingPlugin):
    name = "r2"

    def __init__(self, platform: "Platform") -> None:
        super().__init__(platform)
        self._store: "R2Store | None" = None
        self._buckets: dict[str, R2Bucket] = {}
        self._s3: "S3Server | None" = None
        self.s3_endpoint: str | None = None

    @property
    def store(self) -> "R2Store":
        """The engine, opened on ``<state>/r2`` on first use (objects stay on disk)."""
        if self._store is None:
            from emulator.bindings.r2.store import R2Store

            store = R2Store(self.platform.state.binding_dir("r2"), on_damaged=self._damaged)
            count = store.restore()
            self._store = store
            if count:
                self.platform.log.debug("r2", f"opened {count} bucket(s) from disk")
        return self._store

    def _damaged(self, bucket: str, key: str) -> None:
        self.platform.log.warn("r2", f"object {key!r} of bucket {bucket!r} lost its data "
                                     "file in the state directory; it is not served",
                               bucket=bucket, key=key)

    def bucket(self, name: str) -> R2Bucket:
        """The binding object for bucket ``name`` (one per name: shared across apps)."""
        if name not in self._buckets:
            self._buckets[name] = R2Bucket(self.store, name, self.platform.clock)
        return self._buckets[name]

    async def start(self) -> None:
        for app in self.platform.apps:
            for b in r2_config(app).buckets:
                self.bucket(b.bucket_name)
        self.store  # noqa: B018 (restore even when no app binds a bucket)
        if self.platform.s3_port is not None and self._s3 is None:
            from emulator.bindings.r2.s3 import S3Server

            server = S3Server(self.store, self.platform.clock, self.platform.ip,
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
        if self._s3 is not None:
            await self._s3.stop()
            self._s3 = None
            self.s3_endpoint = None
        if self._store is not None:
            self._store.close()
            self._store = None
        self._buckets.clear()

    def bindings_for(self, app: "AppConfig") -> dict[str, Any]:
        return {b.binding: self.bucket(b.bucket_name) for b in r2_config(app).buckets}

    def routes(self) -> "list[web.RouteDef]":
        from emulator.bindings.r2.routes import routes

        return routes(self)

    def health(self) -> dict[str, Any]:
        info: dict[str, Any] = {"state": "running",
                                "buckets": self.store.bucket_names() if self._store else []}
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
