"""D1: SQLite databases, one file per database under ``<state>/d1/``.

Layout: ``engine.py`` (``D1Engine``: connection, worker thread, result shaping),
``binding.py`` (``D1Database`` / ``D1PreparedStatement``: what apps see),
``migrations.py`` (wrangler's migrations), ``api.py`` (``/_emulator/d1``).

Public engine API for other code (dashboard, pytest plugin, CLI)::

    plugin = platform.plugin("d1")
    db = plugin.database("my-db")          # D1Database by database_name, binding or local id
    db = plugin.database(d1_binding)       # or by D1DatabaseBinding
    plugin.database_path("my-db")          # the SQLite file (open it read-only elsewhere)
    plugin.engine(local_id)                # the D1Engine (script(), batch(), dump())
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from emulator.bindings import BindingPlugin
from emulator.bindings.d1.binding import D1Database, D1DatabaseSession, D1PreparedStatement
from emulator.bindings.d1.engine import D1Engine, D1Error, database_path
from emulator.config.model import D1DatabaseBinding

if TYPE_CHECKING:
    from aiohttp import web

    from emulator.config.model import AppConfig
    from emulator.platform import Platform

__all__ = ["D1Database", "D1DatabaseSession", "D1Error", "D1PreparedStatement", "Plugin"]


class Plugin(BindingPlugin):
    name = "d1"

    def __init__(self, platform: "Platform") -> None:
        super().__init__(platform)
        self._engines: dict[str, D1Engine] = {}
        self._databases: dict[str, D1Database] = {}

    @staticmethod
    def used_by(app: "AppConfig") -> bool:
        return bool(app.d1_databases)

    def resolve(self, name: str | D1DatabaseBinding) -> str:
        """The local id for a binding, or for a ``database_name`` / binding name / id."""
        if isinstance(name, D1DatabaseBinding):
            return name.local_id
        for app in self.platform.apps:
            for b in app.d1_databases:
                if name in (b.database_name, b.binding, b.database_id):
                    return b.local_id
        return name

    def database_path(self, name: str | D1DatabaseBinding) -> Path:
        return database_path(self.platform.state.binding_dir("d1"), self.resolve(name))

    def engine(self, local_id: str) -> D1Engine:
        if local_id not in self._engines:
            self._engines[local_id] = D1Engine(self.database_path(local_id))
        return self._engines[local_id]

    def database(self, name: str | D1DatabaseBinding) -> D1Database:
        """The binding object for a database (one per local id: shared across apps)."""
        local_id = self.resolve(name)
        if local_id not in self._databases:
            self._databases[local_id] = D1Database(self.engine(local_id), local_id)
        return self._databases[local_id]

    def database_ids(self) -> list[str]:
        ids = {b.local_id for app in self.platform.apps for b in app.d1_databases}
        ids.update(self._engines)
        return sorted(ids)

    async def start(self) -> None:
        for app in self.platform.apps:
            for b in app.d1_databases:
                self.database(b)

    async def stop(self) -> None:
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()
        self._databases.clear()

    def bindings_for(self, app: "AppConfig") -> dict[str, Any]:
        return {b.binding: self.database(b) for b in app.d1_databases}

    def routes(self) -> "list[web.RouteDef]":
        from emulator.bindings.d1.api import routes

        return routes(self)

    def health(self) -> dict[str, Any]:
        return {"state": "running", "databases": self.database_ids()}
