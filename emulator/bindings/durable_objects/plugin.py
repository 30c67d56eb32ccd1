"""The Durable Objects plugin: one engine per class, the namespaces on ``env``, inspection.

Public API for other code (CLI, dashboard, pytest plugin)::

    plugin = platform.plugin("durable_objects")
    plugin.engines()                     # every namespace (declared, or found in the state)
    plugin.engine_for("LISTS")           # by binding name, class name or "<script>-<Class>"
    plugin.idle_timeout = 5              # seconds of idleness before an object is evicted

At start, every class an app binds must exist in its defining app's module and derive from
``DurableObject`` (a clear error otherwise); alarms of every namespace start firing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Callable

from emulator.bindings import BindingPlugin
from emulator.bindings.durable_objects.binding import (
    DurableObjectNamespace,
    DurableObjectStub,
)
from emulator.bindings.durable_objects.config import durable_objects_config
from emulator.bindings.durable_objects.engine import INDEX_FILE, NamespaceEngine
from emulator.bindings.durable_objects.errors import DurableObjectsConfigError
from emulator.bindings.durable_objects.ids import DurableObjectId

if TYPE_CHECKING:
    from aiohttp import web

    from emulator.config.model import AppConfig
    from emulator.platform import Platform

__all__ = ["NamespaceHandle", "Plugin"]

# workerd evicts an idle object after 10 s locally; `CF_EMULATOR_DO_IDLE_TIMEOUT` (seconds,
# 0 = never) changes it for `dev`, `plugin.idle_timeout` at run time.
DEFAULT_IDLE_TIMEOUT = 10.0
IDLE_TIMEOUT_VARIABLE = "CF_EMULATOR_DO_IDLE_TIMEOUT"


def _idle_timeout_setting() -> float:
    raw = os.environ.get(IDLE_TIMEOUT_VARIABLE)
    if raw is None or raw.strip() == "":
        return DEFAULT_IDLE_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise DurableObjectsConfigError(f"{IDLE_TIMEOUT_VARIABLE}={raw!r} is not a number of seconds "
                                        "(0 turns idle eviction off).") from None
    if value < 0 or value != value:
        raise DurableObjectsConfigError(f"{IDLE_TIMEOUT_VARIABLE}={raw!r} must be 0 or more seconds.")
    return value


class Plugin(BindingPlugin):
    name = "durable_objects"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self.idle_timeout = _idle_timeout_setting()
        self._engines: dict[tuple[str, str], NamespaceEngine] = {}
        self._bound: set[tuple[str, str]] = set()  # the classes some app binds
        self._started = False
        hosted = {a.name for a in platform.apps}
        for app in platform.apps:
            cfg = durable_objects_config(app)
            for info in cfg.classes:
                self.engine(app.name, info.name)
            for b in cfg.bindings:
                script = b.defining_app(app.name)
                self.engine(script, b.class_name)
                self._bound.add((script, b.class_name))
                if script not in hosted:
                    platform.log.warn("durable_objects", f'Durable Object binding {b.binding} of {app.name} uses class '
                                      f'"{b.class_name}" of script "{script}", which is not hosted here; calls to it '
                                      "fail until it is")

    @property
    def directory(self) -> Path:
        return self.platform.state.binding_dir("durable_objects")

    # --- namespaces -----------------------------------------------------------------------------
    def engine(self, script: str, class_name: str) -> NamespaceEngine:
        """The engine of a class (created on first use)."""
        key = (script, class_name)
        engine = self._engines.get(key)
        if engine is None:
            try:
                app: AppConfig | None = self.platform.app(script)
            except KeyError:
                app = None
            info = durable_objects_config(app).class_info(class_name) if app is not None else None
            engine = NamespaceEngine(self.platform, script, class_name,
                                     info.storage_name if info is not None else class_name,
                                     bool(info.sqlite) if info is not None else False, app, self.directory, self)
            self._engines[key] = engine
            if self._started:
                engine.start()
        return engine

    def engines(self) -> list[NamespaceEngine]:
        return list(self._engines.values())

    def engine_for(self, name: str) -> NamespaceEngine | None:
        """A namespace by binding name, class name or unique key (``"<script>-<Class>"``)."""
        for engine in self._engines.values():
            if name in (engine.unique_key, engine.class_name, f"{engine.script}-{engine.class_name}"):
                return engine
        for app in self.platform.apps:
            for b in durable_objects_config(app).bindings:
                if b.binding == name:
                    return self.engine(b.defining_app(app.name), b.class_name)
        return None

    def stored_namespaces(self) -> list[str]:
        """Unique keys of namespaces that have data in the state directory."""
        from emulator.bindings.durable_objects.engine import NamespaceIndex

        out = []
        for folder in sorted(self.directory.iterdir()) if self.directory.is_dir() else []:
            if (folder / INDEX_FILE).is_file():
                out.append(NamespaceIndex.stored_key(folder / INDEX_FILE) or folder.name)
        return out

    # --- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        for key, engine in self._engines.items():
            if key in self._bound and engine.script in self.platform.hosts:
                engine.resolve_class()  # a clear start-up error when a bound class is missing
        for engine in self._engines.values():
            engine.start()
        self._started = True

    async def stop(self) -> None:
        self._started = False
        for engine in self._engines.values():
            await engine.stop()

    def bindings_for(self, app: AppConfig) -> dict[str, Any]:
        return {b.binding: DurableObjectNamespace(self.engine(b.defining_app(app.name), b.class_name))
                for b in durable_objects_config(app).bindings}

    def routes(self) -> list[web.RouteDef]:
        from emulator.bindings.durable_objects.routes import routes

        return routes(self)

    # --- work and inspection ------------------------------------------------------------------------
    def in_flight(self) -> int:
        return sum(len(e.alarms.running) for e in self._engines.values())

    def is_idle(self) -> bool:
        return not any(e.busy() or e.alarms.due_now() for e in self._engines.values())

    def health(self) -> dict[str, Any]:
        return {"state": "running" if self._started else "stopped",
                "idle_timeout": self.idle_timeout,
                "namespaces": {e.unique_key: {"class_name": e.class_name, "script": e.script, "sqlite": e.sqlite,
                                              "active": sum(1 for a in e.live() if a.active)}
                               for e in self._engines.values()}}

    def overview(self) -> dict[str, Any]:
        namespaces: dict[str, dict[str, Any]] = {}
        for engine in self._engines.values():
            namespaces[engine.unique_key] = {"className": engine.class_name, "script": engine.script,
                                             "sqlite": engine.sqlite, "bindings": []}
        for app in self.platform.apps:
            for b in durable_objects_config(app).bindings:
                engine = self.engine(b.defining_app(app.name), b.class_name)
                namespaces[engine.unique_key]["bindings"].append({"app": app.name, "binding": b.binding})
        return {"namespaces": dict(sorted(namespaces.items()))}

    def lookup(self, name: str) -> Any:
        engine = self.engine_for(name)
        return NamespaceHandle(engine) if engine is not None else None

    def known_names(self) -> set[str]:
        names = {e.class_name for e in self._engines.values()} | {e.unique_key for e in self._engines.values()}
        for app in self.platform.apps:
            names |= {b.binding for b in durable_objects_config(app).bindings}
        return names


class NamespaceHandle(DurableObjectNamespace):
    """What ``emu.durable_object("BINDING")`` returns in tests: the namespace, plus direct access.

    ``get_by_name`` / ``id_from_name`` / ``id_from_string`` alias the JS names; ``storage``,
    ``run``, ``alarm``, ``evict``, ``is_active`` and ``websockets`` reach an object (given
    by name, hex id, ``DurableObjectId`` or stub) without going through its methods.
    """

    def __init__(self, engine: NamespaceEngine) -> None:
        super().__init__(engine)
        self.engine = engine

    def get_by_name(self, name: Any) -> DurableObjectStub:
        return self.getByName(name)

    def id_from_name(self, name: Any) -> DurableObjectId:
        return self.idFromName(name)

    def id_from_string(self, text: str) -> DurableObjectId:
        return self.idFromString(text)

    def _id(self, which: Any) -> DurableObjectId:
        if isinstance(which, DurableObjectStub):
            return which.id
        if isinstance(which, DurableObjectId):
            return which
        if isinstance(which, str) and len(which) == 64 and all(c in "0123456789abcdef" for c in which):
            return self.engine.ids.stored(which, self.engine.index.object_name(which))
        return self.idFromName(which)

    def storage(self, which: Any) -> Any:
        """The object's ``ctx.storage`` (its writes are committed at the next loop turn)."""
        from emulator.bindings.durable_objects.storage import DurableObjectStorage

        return DurableObjectStorage(self.engine.actor(self._id(which)))

    async def run(self, which: Any, fn: Callable[[Any, Any], Any]) -> Any:
        """Run ``fn(instance, ctx)`` inside the object, as one of its events (constructing it if needed)."""
        actor = self.engine.actor(self._id(which))
        return await actor.deliver(lambda instance: fn(instance, actor.state))

    async def alarm(self, which: Any) -> int | None:
        """The object's scheduled alarm (ms since the epoch), or None."""
        return self.engine.actor(self._id(which)).get_alarm()

    def evict(self, which: Any = None) -> int:
        """Evict one object (or every active one), as idleness would: the next call constructs it again."""
        return self.engine.evict(None if which is None else self._id(which).toString())

    def is_active(self, which: Any) -> bool:
        actor = self.engine.existing(self._id(which).toString())
        return actor is not None and actor.active

    def websockets(self, which: Any) -> int:
        actor = self.engine.existing(self._id(which).toString())
        return len(actor.hibernatable) if actor is not None else 0

    def object_ids(self) -> list[str]:
        """Ids of the objects with data (the index), plus the active ones."""
        stored = [row[0] for row in self.engine.index.objects(None, 1_000_000)]
        return sorted(set(stored) | {a.hex for a in self.engine.live()})

    def __repr__(self) -> str:
        return f"<NamespaceHandle {self.engine.unique_key}>"

