"""The D1 binding plugin: one engine per database, shared across apps; migrations at start.

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
from emulator.bindings.d1.binding import D1Database
from emulator.bindings.d1.config import D1DatabaseBinding, d1_config
from emulator.bindings.d1.engine import D1Engine, database_path
from emulator.errors import StartError

if TYPE_CHECKING:
    from aiohttp import web

    from emulator.config.model import AppConfig
    from emulator.platform import Platform

__all__ = ["Plugin"]


def _shown(path: Path) -> str:
    """A path as a command line shows it: relative to the current folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return str(path)


def _quoted(word: str) -> str:
    import shlex

    return shlex.quote(word)


class Plugin(BindingPlugin):
    name = "d1"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self._engines: dict[str, D1Engine] = {}
        self._databases: dict[str, D1Database] = {}

    def resolve(self, name: str | D1DatabaseBinding) -> str:
        """The local id for a binding, or for a ``database_name`` / binding name / id."""
        if isinstance(name, D1DatabaseBinding):
            return name.local_id
        for app in self.platform.apps:
            for b in d1_config(app).databases:
                if name in (b.database_name, b.binding, b.database_id):
                    return b.local_id
        return name

    def database_path(self, name: str | D1DatabaseBinding) -> Path:
        return database_path(self.platform.state.binding_dir("d1"), self.resolve(name))

    def engine(self, local_id: str) -> D1Engine:
        if local_id not in self._engines:
            engine = self._engines[local_id] = D1Engine(self.database_path(local_id))
            binding = self._binding_with_migrations(local_id)
            if binding is not None:
                engine.missing_table_note = lambda: self._pending_note(binding)
        return self._engines[local_id]

    def _binding_with_migrations(self, local_id: str) -> D1DatabaseBinding | None:
        """The first app binding of a database whose migrations folder exists."""
        for app in self.platform.apps:
            for b in d1_config(app).databases:
                if b.local_id == local_id and b.migrations_dir.is_dir():
                    return b
        return None

    def pending_migrations(self, binding: D1DatabaseBinding) -> list[str]:
        """The database's unapplied migrations, read without writing anything."""
        from emulator.bindings.d1.migrations import pending_readonly

        return pending_readonly(self.database_path(binding.local_id), binding)

    def apply_command(self, binding: D1DatabaseBinding) -> str:
        """The `cf-emulator` command that applies a database's migrations to this state directory."""
        from emulator.config.statedir import place_state

        config = self._config_of(binding)
        words = ["cf-emulator", "d1", "migrations", "apply", binding.database_name or binding.binding]
        if config is not None:
            words += ["-c", _shown(config)]
        if config is None or place_state([config]).root != self.platform.state.root:
            words += ["--persist-to", _shown(self.platform.state.root)]
        return " ".join(_quoted(w) for w in words)

    def _config_of(self, binding: D1DatabaseBinding) -> Path | None:
        for app in self.platform.apps:
            if binding in d1_config(app).databases:
                return app.config_path
        return None

    def _pending_note(self, binding: D1DatabaseBinding) -> str | None:
        pending = self.pending_migrations(binding)
        if not pending:
            return None
        return (f"this database has {len(pending)} pending migration{'s' if len(pending) != 1 else ''} "
                f"({', '.join(pending)}) that may create it: apply them with `{self.apply_command(binding)}`, "
                "or start `dev` with --apply-migrations (apply_migrations = true in the workspace)")

    def database(self, name: str | D1DatabaseBinding) -> D1Database:
        """The binding object for a database (one per local id: shared across apps)."""
        local_id = self.resolve(name)
        if local_id not in self._databases:
            self._databases[local_id] = D1Database(self.engine(local_id), local_id)
        return self._databases[local_id]

    def database_ids(self) -> list[str]:
        ids = {b.local_id for app in self.platform.apps for b in d1_config(app).databases}
        ids.update(self._engines)
        return sorted(ids)

    async def start(self) -> None:
        if self.platform.apply_migrations:
            # D1 starts first (BINDING_TYPES order): a resumed workflow or a redelivered
            # batch may query the tables these migrations create.
            await self.apply_migrations()
        else:
            self.warn_pending_migrations()
        for app in self.platform.apps:
            for b in d1_config(app).databases:
                self.database(b)

    async def apply_migrations(self) -> None:
        """Apply pending migrations of every bound database (once per shared database)."""
        from emulator.bindings.d1.errors import MigrationError
        from emulator.bindings.d1.migrations import apply_migrations

        done: set[str] = set()
        for app in self.platform.apps:
            for db in d1_config(app).databases:
                if db.local_id in done or not db.migrations_dir.is_dir():
                    continue
                done.add(db.local_id)
                try:
                    # Progress lines (the pending table, one ✅ per file) go to the log ("d1").
                    await apply_migrations(self.platform, db)
                except MigrationError as exc:
                    raise StartError(f"D1 migrations of {db.local_id!r} ({db.migrations_dir}) failed: {exc}\n"
                                     "Fix the migration file and start again; the ones before it stay applied."
                                     ) from None

    def warn_pending_migrations(self) -> None:
        """One warning per database with unapplied migrations: their names and the command
        that applies them (docs/state.md, "Pending D1 migrations")."""
        seen: set[str] = set()
        for app in self.platform.apps:
            for db in d1_config(app).databases:
                if db.local_id in seen or not db.migrations_dir.is_dir():
                    continue
                seen.add(db.local_id)
                pending = self.pending_migrations(db)
                if pending:
                    self.platform.log.warn(
                        "d1", f"D1 database {db.database_name or db.binding!r} has {len(pending)} pending "
                        f"migration{'s' if len(pending) != 1 else ''}: {', '.join(pending)}. Queries on the "
                        f"tables they create fail until you run `{self.apply_command(db)}` (or start `dev` "
                        "with --apply-migrations; in a workspace: apply_migrations = true).",
                        database=db.local_id, pending=pending)

    async def stop(self) -> None:
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()
        self._databases.clear()

    def bindings_for(self, app: AppConfig) -> dict[str, Any]:
        return {b.binding: self.database(b) for b in d1_config(app).databases}

    def routes(self) -> list[web.RouteDef]:
        from emulator.bindings.d1.routes import routes

        return routes(self)

    def health(self) -> dict[str, Any]:
        return {"state": "running", "databases": self.database_ids()}

    def overview(self) -> dict[str, Any]:
        databases: dict[str, dict[str, Any]] = {}
        for app in self.platform.apps:
            for d in d1_config(app).databases:
                databases.setdefault(d.local_id, {"bindings": [], "databaseName": d.database_name,
                                                  "databaseId": d.database_id})["bindings"].append(
                    {"app": app.name, "binding": d.binding})
        return {"databases": dict(sorted(databases.items()))}
