"""The KV binding plugin: one engine per namespace id, shared by every app that binds it.

Public API for other code (CLI, dashboard, pytest plugin)::

    plugin = platform.plugin("kv")
    plugin.namespace("my-ns-id")     # KVNamespace (created if needed)
    plugin.namespace_ids()           # declared and stored namespaces
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from emulator.bindings import BindingPlugin
from emulator.bindings.kv.binding import KVNamespace
from emulator.bindings.kv.config import kv_config
from emulator.bindings.kv.engine import KVEngine, namespace_path, stored_namespace_id

if TYPE_CHECKING:
    from aiohttp import web

    from emulator.config.model import AppConfig
    from emulator.platform import Platform

__all__ = ["Plugin"]


class Plugin(BindingPlugin):
    name = "kv"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self._engines: dict[str, KVEngine] = {}
        self._namespaces: dict[str, KVNamespace] = {}

    @property
    def directory(self) -> Path:
        return self.platform.state.binding_dir("kv")

    def path(self, namespace_id: str) -> Path:
        return namespace_path(self.directory, namespace_id)

    def resolve(self, name: str) -> str:
        """The namespace id for a binding name or an id (``preview_id``/``id`` as declared)."""
        for app in self.platform.apps:
            for n in kv_config(app).namespaces:
                if name in (n.binding, n.id, n.preview_id, n.local_id):
                    return n.local_id
        return name

    def engine(self, namespace_id: str) -> KVEngine:
        if namespace_id not in self._engines:
            engine = KVEngine(self.path(namespace_id), namespace_id)
            engine.purge_expired(self.platform.clock.now_ms())
            self._engines[namespace_id] = engine
        return self._engines[namespace_id]

    def namespace(self, name: str) -> KVNamespace:
        """The binding object for a namespace (one per id: shared across apps)."""
        namespace_id = self.resolve(name)
        if namespace_id not in self._namespaces:
            self._namespaces[namespace_id] = KVNamespace(self.engine(namespace_id), namespace_id,
                                                         self.platform.clock)
        return self._namespaces[namespace_id]

    def declared_ids(self) -> list[str]:
        return sorted({n.local_id for app in self.platform.apps for n in kv_config(app).namespaces})

    def namespace_ids(self) -> list[str]:
        """Namespaces the apps declare, plus any stored in the state directory."""
        ids = set(self.declared_ids()) | set(self._engines)
        for path in sorted(self.directory.glob("*.sqlite3")):
            found = stored_namespace_id(path)
            if found is not None:
                ids.add(found)
        return sorted(ids)

    def known(self, namespace_id: str) -> bool:
        return namespace_id in self.namespace_ids()

    async def start(self) -> None:
        for namespace_id in self.declared_ids():
            self.namespace(namespace_id)

    async def stop(self) -> None:
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()
        self._namespaces.clear()

    def bindings_for(self, app: AppConfig) -> dict[str, Any]:
        return {n.binding: self.namespace(n.local_id) for n in kv_config(app).namespaces}

    def routes(self) -> list[web.RouteDef]:
        from emulator.bindings.kv.routes import routes

        return routes(self)

    def health(self) -> dict[str, Any]:
        return {"state": "running", "namespaces": self.declared_ids()}

    def overview(self) -> dict[str, Any]:
        namespaces: dict[str, dict[str, Any]] = {}
        for app in self.platform.apps:
            for n in kv_config(app).namespaces:
                namespaces.setdefault(n.local_id, {"bindings": []})["bindings"].append(
                    {"app": app.name, "binding": n.binding})
        return {"namespaces": dict(sorted(namespaces.items()))}
