"""The platform: the engines of every binding type plus the apps wired to them.

``Platform`` is what ``cf-emulator dev``, the CLI verbs and the pytest plugin share. It
owns the clock, the state directory and the log, starts the binding plugins the hosted
apps use, and assembles each app's ``env``. Resources with the same name are shared
across apps (the web app's producer and the workflow app's consumer meet on one queue).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from collections.abc import Awaitable, Callable, Iterable

from emulator.access import HostAllowList
from emulator.bindings import BINDING_TYPES, BindingPlugin, binding_type, load_plugin
from emulator.clock import Clock, RealClock
from emulator.config.model import AppConfig
from emulator.jsobject import JsObject
from emulator.logs import EventLog
from emulator.state import StateDir

if TYPE_CHECKING:
    from emulator.runtime.body import RequestBodies


class AppHost(Protocol):
    """What the runtime provides for one hosted app (see ``emulator.runtime``)."""

    config: AppConfig

    async def queue(self, batch: Any) -> None:
        """Run the app's ``queue`` handler; raising means the whole batch failed."""

    async def scheduled(self, cron: str, scheduled_time_ms: int) -> None: ...

    def entrypoint_class(self, class_name: str) -> type:
        """A class defined in the app's main module (workflow classes)."""

    async def fetch_service(self, request: Any) -> Any:
        """Handle a request coming through a service binding."""


class Env(JsObject):
    """An app's `env`: bindings and vars as attributes (``self.env.DB``)."""


class Platform:
    def __init__(
        self,
        apps: list[AppConfig],
        state_dir: Path | str,
        clock: Clock | None = None,
        log: EventLog | None = None,
        ip: str = "127.0.0.1",
        s3_port: int | None = 0,
        apply_migrations: bool = False,
        allowed_hosts: Iterable[str] = (),
        request_body_limit: int | None = None,
        strict_runtime: bool = False,
    ) -> None:
        self.apps = list(apps)
        # `dev --strict-runtime`: app code using what production Python Workers lack is
        # reported, legacy idioms fail (emulator/runtime/strict.py, docs/python-workers.md).
        self.strict_runtime = strict_runtime
        if strict_runtime:
            from emulator.runtime.strict import RuntimeMonitor

            RuntimeMonitor.install()  # before any app is imported: top-level code counts too
        # Where internal listeners (the S3 endpoint) bind; `dev --ip` changes it.
        self.ip = ip
        # Host values the internal API and the S3 endpoint answer (docs/security.md).
        self.host_allow_list = HostAllowList(ip, allowed_hosts)
        # Port of the S3-compatible endpoint: 0 = a free port, None = no endpoint.
        self.s3_port = s3_port
        # Apply pending D1 migrations when the D1 plugin starts (`dev --apply-migrations`).
        self.apply_migrations = apply_migrations
        self.state = StateDir(Path(state_dir))
        # The edge's request body limit in bytes (None: Cloudflare's default, runtime/body.py).
        self.request_body_limit = request_body_limit
        self._request_bodies: RequestBodies | None = None
        self.clock: Clock = clock or RealClock()
        self.log = log or EventLog()
        self.hosts: dict[str, AppHost] = {}
        self.plugins: dict[str, BindingPlugin] = {}
        for name in BINDING_TYPES:
            kind = binding_type(name)
            if any(kind.used_by(app) for app in self.apps):
                self.plugins[name] = load_plugin(name)(self)
        self._started = False

    def plugin(self, name: str) -> BindingPlugin:
        """A plugin by name, created on demand (CLI verbs on a state dir without apps)."""
        if name not in self.plugins:
            self.plugins[name] = load_plugin(name)(self)
        return self.plugins[name]

    @property
    def request_bodies(self) -> RequestBodies:
        """The request-body policy of the app ports: limit, where uploads spill, counters."""
        bodies = self._request_bodies
        if bodies is None:
            # Imported here: CLI verbs build a Platform without hosting anything.
            from emulator.runtime.body import DEFAULT_REQUEST_BODY_LIMIT, RequestBodies

            limit = self.request_body_limit if self.request_body_limit is not None else DEFAULT_REQUEST_BODY_LIMIT
            bodies = self._request_bodies = RequestBodies(limit, spill_dir=self.state.tmp_dir)
        return bodies

    def app(self, name: str) -> AppConfig:
        for app in self.apps:
            if app.name == name:
                return app
        raise KeyError(name)

    def attach_host(self, host: AppHost) -> None:
        self.hosts[host.config.name] = host

    async def start(self) -> None:
        if self._started:
            return
        self.state.root.mkdir(parents=True, exist_ok=True)
        for plugin in self.plugins.values():
            await plugin.start()
        self._started = True

    def serving(self) -> None:
        """The apps answer requests now: plugins may start work they deferred (``BindingPlugin.serving``)."""
        for plugin in self.plugins.values():
            plugin.serving()

    async def stop(self) -> None:
        if not self._started:
            return
        for plugin in reversed(list(self.plugins.values())):
            await plugin.stop()
        self._started = False

    def env_for(self, app: AppConfig, extra: dict[str, Any] | None = None) -> Env:
        env = Env(app.env_vars())
        for plugin in self.plugins.values():
            env.update(plugin.bindings_for(app))
        if extra:
            env.update(extra)
        return env

    def in_flight(self) -> int:
        """Messages or steps handed to app code right now, over every plugin."""
        return sum(p.in_flight() for p in self.plugins.values())

    def is_idle(self) -> bool:
        # Hosts count too: `ctx.waitUntil` work in flight may still send messages.
        return all(p.is_idle() for p in self.plugins.values()) and all(
            getattr(h, "is_idle", lambda: True)() for h in self.hosts.values()
        )

    async def drain(self, timeout: float = 30.0, poll: float = 0.002) -> None:
        """Return when no plugin has pending, runnable or in-flight work.

        With a ``FakeClock`` only work that is due *now* counts as runnable: delayed
        messages and sleeping workflows wait for ``clock.advance()``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet = 0
        while quiet < 3:
            await asyncio.sleep(poll)
            quiet = quiet + 1 if self.is_idle() else 0
            if loop.time() > deadline:
                raise TimeoutError("platform did not drain in time")


Handler = Callable[..., Awaitable[Any]]
